"""`gt watch`: a plain one-screen status for a phone, without Textual."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading

import pytest
from rich.cells import cell_len

from gastown_tui.dispatch.observe import observe
from gastown_tui.dispatch.sling import sling
from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from tests.conftest import ROOT, GtRunner, wait_until
from tests.tmux_helpers import real_tmux

pytest_plugins = ["tests.polecat_fixtures"]

LONG = "Ship the 二〇二六 release notes 🚀 with every remaining translation " * 3


def lines_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("columns", [40, 25, 100])
def test_once_fits_the_width_from_columns(rig_town: Town, gt: GtRunner, columns: int) -> None:
    bead = rig_town.beads.create(LONG, rig="alpha")
    rig_town.convoys.create(LONG, [bead.id], owner="overseer")
    rig_town.mail.send(["overseer"], LONG, "body", sender="mayor", priority="urgent")
    lines = lines_of(gt("watch", "--once", env={"COLUMNS": str(columns)}))
    assert lines[0].startswith("GAS TOWN testtown")
    assert all(cell_len(line) <= columns for line in lines), lines
    text = "\n".join(lines)
    for header in ("PROBLEMS", "POLECATS", "CONVOYS in flight 1", "MAIL 1 unread"):
        assert header in text
    assert "1 urgent mail for you"[: columns - 3] in text
    if columns == 100:
        assert "mayor: Ship the 二〇二六 release notes 🚀" in text


def test_a_short_screen_keeps_every_section_header(rig_town: Town, gt: GtRunner) -> None:
    for n in range(12):
        rig_town.mail.send(["overseer"], f"note {n}", "body", sender="mayor")
    lines = lines_of(gt("watch", "--once", env={"COLUMNS": "40", "LINES": "10"}))
    assert len(lines) <= 10
    text = "\n".join(lines)
    for header in ("PROBLEMS", "POLECATS", "CONVOYS", "MAIL 12 unread"):
        assert header in text
    assert "more" in text


@real_tmux
def test_waiting_polecats_come_first(rig_town: Town, tmux: TownTmux, gt: GtRunner) -> None:
    calm = rig_town.beads.create("Polish chrome", rig="alpha")
    stuck = rig_town.beads.create("Open the vault", rig="alpha", labels=["needs-human"])
    sling(rig_town, tmux, calm.id, "alpha", runtime="demo")
    sling(rig_town, tmux, stuck.id, "alpha", runtime="demo")
    wait_until(
        lambda: any(v.state == "waiting" for v in observe(rig_town, tmux)),
        timeout=20,
        what="the demo agent to wait",
    )
    lines = lines_of(gt("watch", "--once", env={"COLUMNS": "40"}))
    rows = [line for line in lines if line.startswith(" ") and "alpha/" in line]
    polecat_rows = [r for r in rows if not r.startswith(" !")]
    assert polecat_rows[0].split()[0] == "waiting", lines
    assert stuck.id in polecat_rows[0]
    assert any("waits for you" in line for line in lines)


def test_watch_never_imports_textual(rig_town: Town) -> None:
    env = {**os.environ, "GT_TOWN": str(rig_town.root), "COLUMNS": "40"}
    code = (
        "import sys\n"
        "from gastown_tui.cli import main\n"
        "assert main(['watch', '--once']) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'textual_serve', 'anthropic', 'aiohttp'))\n"
        "print('HEAVY', bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert not [m for m in imported if m.split(".")[0] == "textual"]


def test_it_redraws_when_the_store_changes(rig_town: Town) -> None:
    env = {**os.environ, "GT_TOWN": str(rig_town.root), "COLUMNS": "40"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "watch", "--interval", "600"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []

    def saw(words: str) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return any(words in line for line in seen)

    try:
        wait_until(lambda: saw("MAIL 0 unread"), timeout=20, what="the first frame")
        rig_town.mail.send(["overseer"], "Fresh news", "body", sender="mayor")
        wait_until(lambda: saw("mayor: Fresh news"), timeout=20, what="a redraw with the mail")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert all(cell_len(line.rstrip("\n")) <= 40 for line in seen)


def test_bad_interval_is_exit_2(town: Town, gt: GtRunner) -> None:
    result = gt("watch", "--interval", "0")
    assert result.returncode == 2 and "--interval" in result.stderr
    assert result.stderr.count("\n") == 1
