"""The backend conformance suite: every test here runs once per backend registered in
gastown_tui/town/storage/__init__.py (BACKENDS). A new backend passes it by providing
storage/base.py's Backend and a Harness below (how to damage its data, to prove damage is
refused loudly). Child processes pick the backend up from GT_STORE_BACKEND.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gastown_tui.town.storage import BACKEND_ENV, BACKENDS
from gastown_tui.town.town import Town


class FilesHarness:
    """Damage for the files backend (storage/file_backend.py): its rig file, in place."""

    def corrupt_rig(self, town: Town, rig: str, content: bytes) -> str:
        path = town.paths.rig_file(rig)
        path.write_bytes(content)
        return str(path)

    def lose_rig(self, town: Town, rig: str) -> str:
        path = town.paths.rig_file(rig)
        path.unlink()
        return str(path)

    def rig_state(self, town: Town, rig: str) -> bytes:
        return town.paths.rig_file(rig).read_bytes()

    def unhealthy(self, town: Town) -> list[str]:
        """What the backend's own checker (`gt doctor`) finds wrong and cannot repair."""
        from gastown_tui.town.storage.doctor import doctor

        return doctor(town, repair=False).unrepaired


HARNESSES = {"files": FilesHarness()}


@pytest.fixture(params=sorted(BACKENDS))
def backend_name(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(BACKEND_ENV, request.param)
    return request.param


@pytest.fixture
def harness(backend_name: str) -> FilesHarness:
    return HARNESSES[backend_name]


@pytest.fixture
def stown(backend_name: str, tmp_path: Path) -> Town:
    """A town on the backend under test, with a plain (non-git) rig `alpha` (prefix `al`)."""
    town = Town.init(tmp_path / "town", name="conformance")
    assert town.storage.name == backend_name
    (tmp_path / "work").mkdir()
    town.rigs.add("alpha", str(tmp_path / "work"), no_git=True, prefix="al")
    return town
