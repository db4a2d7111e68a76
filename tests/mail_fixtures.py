"""Fixtures and helpers for the mail, escalation and convoy tests.

A town with two plain-directory rigs, `alpha` (prefix `al`) and `beta` (prefix `be`), and
polecats alpha/furiosa, alpha/nux and beta/slit. Polecat identities are written straight into
the rig files (table `polecats`), as the polecat registry will: mail only needs them to exist.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from gastown_tui.town.town import Town
from tests.conftest import run_gt

ROOT = Path(__file__).resolve().parent.parent
POLECATS = {"alpha": ["furiosa", "nux"], "beta": ["slit"]}

GtCall = Callable[..., subprocess.CompletedProcess[str]]


def add_polecat(town: Town, rig: str, name: str) -> None:
    with town.beads.rig_txn(rig) as tx:
        tx.put_polecat({"name": name, "rig": rig, "state": "idle"})


@pytest.fixture
def mail_town(tmp_path: Path) -> Town:
    town = Town.init(tmp_path / "town", name="mailtown")
    for rig, prefix in (("alpha", "al"), ("beta", "be")):
        folder = tmp_path / f"{rig}-dir"
        folder.mkdir()
        town.rigs.add(rig, str(folder), prefix=prefix, no_git=True)
        for name in POLECATS[rig]:
            add_polecat(town, rig, name)
    return town


@pytest.fixture
def gtm(mail_town: Town) -> GtCall:
    """`gtm("mail", "inbox", agent="alpha/furiosa")` runs gt against the mail town."""

    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_gt(mail_town, *args, **kwargs)

    return call


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def bad(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2 with a one-line `gt: error:` naming the problem."""
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return orjson.loads(ok(proc).stdout)


def inbox_docs(town: Town, address: str) -> list[dict[str, Any]]:
    """The raw stored copies of an inbox (parsed from disk, not through MailStore)."""
    path = town.paths.mail_file(address)
    if not path.exists():
        return []
    return list(orjson.loads(path.read_bytes()).get("messages", {}).values())


def store_snapshot(town: Town) -> dict[str, bytes]:
    """Every file of the town's store and event log: to prove a refused command wrote nothing."""
    out: dict[str, bytes] = {}
    for path in sorted(town.root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(town.root).as_posix()
        if rel.startswith(".runtime/"):
            continue  # locks and heartbeats: touched by any call, hold no data
        out[rel] = path.read_bytes()
    return out


def events_of(town: Town, type: str) -> list[dict[str, Any]]:
    return [e.to_dict() for e in town.events.iter_all() if e.type == type]
