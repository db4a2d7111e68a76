"""Fixtures for the polecat tests: a town with a git rig, its own tmux server (killed after the
test), cheap user runtimes written into town.toml, and the `gt` CLI as a real process.

Test modules load these with `pytest_plugins = ["tests.polecat_fixtures"]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from gastown_tui.dispatch.tmuxfor import tmux_for
from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from tests.conftest import GtRunner
from tests.conftest import run_gt as run_gt  # re-exported for the polecat tests
from tests.conftest import wait_until as wait_until  # re-exported

T = TypeVar("T")

DEMO_STEP = "0.05"

# Reads lines from its terminal and appends each to argv[1]; with argv[2], first writes its
# environment and working directory there as JSON. Prints READY once reading.
READER = """\
import json, os, sys
out = open(sys.argv[1], "ab", buffering=0)
if len(sys.argv) > 2 and sys.argv[2].endswith(".json"):
    with open(sys.argv[2], "w") as handle:
        json.dump({"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv}, handle)
sys.stdout.write(os.environ.get("READER_BANNER", "READY") + "\\n")
sys.stdout.flush()
for line in sys.stdin.buffer:
    out.write(line)
    sys.stdout.write("got " + line.decode("utf-8", "replace"))
    sys.stdout.flush()
"""


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(orjson.dumps(v).decode() for v in values) + "]"


def add_runtime(town: Town, name: str, command: list[str], **keys: Any) -> None:
    """Append `[runtimes.<name>]` to town.toml and drop the cached config."""
    lines = [f"\n[runtimes.{name}]", f"command = {toml_list(command)}"]
    for key, value in keys.items():
        if isinstance(value, list):
            lines.append(f"{key} = {toml_list(value)}")
        elif isinstance(value, dict):
            pairs = ", ".join(
                f"{orjson.dumps(k).decode()} = {orjson.dumps(v).decode()}" for k, v in value.items()
            )
            lines.append(f"{key} = {{ {pairs} }}")
        else:
            lines.append(f"{key} = {orjson.dumps(value).decode()}")
    with open(town.paths.town_toml, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    town.__dict__.pop("config", None)


def set_town_env(town: Town, **env: str) -> None:
    """Append `[town.env]` (variables every agent window gets) to town.toml."""
    pairs = (f"{orjson.dumps(k).decode()} = {orjson.dumps(v).decode()}" for k, v in env.items())
    lines = ["\n[town.env]", *pairs]
    with open(town.paths.town_toml, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    town.__dict__.pop("config", None)


@pytest.fixture
def polecat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer tmux.conf on the town's server; a fast demo agent."""
    monkeypatch.setenv("GT_TMUX_CONF", os.devnull)
    monkeypatch.setenv("GT_DEMO_STEP", DEMO_STEP)


@pytest.fixture
def tmux(rig_town: Town, polecat_env: None) -> Iterator[TownTmux]:
    """The test town's own tmux server (a unique socket per town), killed afterwards."""
    server = tmux_for(rig_town)
    try:
        yield server
    finally:
        server.kill_server()
        # tmux leaves its socket file behind; this one is the test's own.
        server.socket_path().unlink(missing_ok=True)


@pytest.fixture
def reader(rig_town: Town, tmp_path: Path) -> Path:
    """A user runtime `reader` (a program that records every line typed into its window).
    Returns the file it records to; its environment lands in `<that>.env.json`."""
    script = tmp_path / "reader.py"
    script.write_text(READER)
    received = tmp_path / "received.txt"
    received.write_bytes(b"")
    add_runtime(
        rig_town,
        "reader",
        [sys.executable, str(script), str(received), str(received) + ".env.json"],
        prompt="none",
        ready="READY",
        takes_prompts=True,  # it reads typed lines as an agent reads prompts
        busy=["BUSY esc to interrupt"],
        waiting=["Do you want to proceed\\?"],
    )
    return received


@pytest.fixture
def pgt(rig_town: Town, gt: GtRunner, polecat_env: None, tmux: TownTmux) -> GtRunner:
    """`gt` as a real process on the rig town, with the test env (tmux killed afterwards)."""
    return gt


def received_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


def assert_received(path: Path, expected: list[str], timeout: float = 10.0) -> None:
    """The reader recorded exactly `expected`. A nudge returns once its Enter has been taken
    (the line left the input: tmux/nudge.py), the reader writes the line a moment later."""
    wait_until(lambda: len(received_lines(path)) >= len(expected), timeout, "the typed lines")
    assert received_lines(path) == expected


def git_out(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def polecat_doc(town: Town, rig: str, name: str) -> dict[str, Any] | None:
    for doc in town.storage.polecats.docs(rig):
        if doc.get("name") == name:
            return dict(doc)
    return None


def hook_without_window(town: Town, bead_id: str, rig: str = "alpha", to: str | None = None):
    """Hook `bead_id` on a polecat with a real worktree but no tmux window: for tests of the
    agent side (prime, hook, done) that need no tmux. Returns the polecat's address."""
    from gastown_tui.town.polecats import Polecat
    from gastown_tui.town.worktrees import prepare_worktree

    with town.beads.rig_txn(rig) as tx:
        polecat, _ = town.polecats.allocate(tx, runtime="demo", bead_id=bead_id, to=to)
        bead = tx.get_bead(bead_id)
        assert bead is not None
        bead.status, bead.assignee = "hooked", polecat.address
        tx.put_bead(bead)
        tx.put_polecat(polecat.to_dict())
    folder, branch = prepare_worktree(town, town.rigs.get(rig), polecat, bead)
    with town.beads.rig_txn(rig) as tx:
        record = Polecat.from_dict(tx.get_polecat(polecat.name) or {})
        record.starting = None
        record.state = "working"
        record.worktree, record.branch = str(folder), branch
        tx.put_polecat(record.to_dict())
    return polecat.address
