"""The DEMO AGENT runs a slung bead end to end in a real tmux window, with real git."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gastown_tui.dispatch.answer import answer_agent
from gastown_tui.dispatch.nudge import nudge_agent
from gastown_tui.dispatch.observe import observe
from gastown_tui.dispatch.sling import sling
from gastown_tui.tmux import TownTmux
from gastown_tui.town.errors import GtFailure
from gastown_tui.town.town import Town
from tests import polecat_fixtures as pf
from tests.conftest import GtRunner
from tests.polecat_fixtures import git_out, polecat_doc, wait_until
from tests.tmux_helpers import real_tmux

polecat_env, tmux = pf.polecat_env, pf.tmux

pytestmark = pytest.mark.tmux


def closed(town: Town, bead_id: str) -> bool:
    return town.beads.get(bead_id).status == "closed"


@real_tmux
def test_demo_agent_completes_a_slung_bead(rig_town: Town, tmux: TownTmux, gt: GtRunner) -> None:
    bead = rig_town.beads.create("Map the salt flats", rig="alpha", description="Go east.")
    proc = gt("sling", bead.id, "alpha", "--agent", "demo")
    assert proc.returncode == 0, proc.stderr
    wait_until(lambda: closed(rig_town, bead.id), timeout=30, what="the demo agent's gt done")

    repo = rig_town.paths.rig_repo("alpha")
    branch = f"polecat/furiosa/{bead.id}"
    files = git_out(repo, "show", "--name-only", "--format=%an", branch).split()
    assert files == ["furiosa", f"notes/{bead.id}.md"]
    notes = git_out(repo, "show", f"{branch}:notes/{bead.id}.md")
    assert "Map the salt flats" in notes and "Go east." in notes and "DEMO AGENT" in notes
    [mr] = rig_town.storage.merge_requests.docs("alpha")
    assert mr["branch"] == branch and mr["commit"] == git_out(repo, "rev-parse", branch)
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None and record["state"] == "idle"
    assert record["history"][-1]["bead"] == bead.id
    pane = gt("peek", "furiosa", "-n", "200").stdout
    assert "DEMO AGENT" in pane and f"DEMO AGENT finished {bead.id}" in pane
    [message] = rig_town.mail.inbox("alpha/witness")
    assert message.subject == f"POLECAT_DONE {bead.id}" and message.sender == "alpha/furiosa"
    [view] = observe(rig_town, tmux)
    assert view.state == "idle"


@real_tmux
def test_demo_agent_waits_for_a_person_on_needs_human(rig_town: Town, tmux: TownTmux) -> None:
    bead = rig_town.beads.create("Open the vault", rig="alpha", labels=["needs-human"])
    sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    view = wait_until(
        lambda: next((v for v in observe(rig_town, tmux) if v.state == "waiting"), None),
        timeout=20,
        what="the waiting state",
    )
    assert view.address == "alpha/furiosa" and "gt answer alpha/furiosa CHOICE" in view.hint
    assert view.prompt is not None and view.prompt.question == "Do you want to proceed?"
    assert [c.label for c in view.prompt.choices] == ["Yes", "No"]
    assert not closed(rig_town, bead.id)
    # A nudge would answer it by accident: refused, nothing typed.
    with pytest.raises(GtFailure, match="waiting at: Do you want to proceed"):
        nudge_agent(rig_town, tmux, "furiosa", "1")
    outcome = answer_agent(rig_town, tmux, "furiosa", "1")
    assert (outcome.choice, outcome.label) == ("1", "Yes")
    wait_until(lambda: closed(rig_town, bead.id), timeout=30, what="the bead to close")
    pane = tmux.capture(view.window.pane_id, lines=200)  # type: ignore[union-attr]
    assert "answer '1': proceeding" in pane
    assert "Do you want to proceed?" not in pane  # redrawn away once answered


@real_tmux
def test_demo_agent_crash_label_leaves_a_zombie(rig_town: Town, tmux: TownTmux) -> None:
    bead = rig_town.beads.create("Light the fuse", rig="alpha", labels=["crash"])
    sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    # Zombie as soon as its process is gone; the pane is marked dead a moment later by tmux,
    # and its exit status is known a moment after that (tmux/server.py WindowInfo).
    view = wait_until(
        lambda: next(
            (
                v
                for v in observe(rig_town, tmux)
                if v.state == "zombie"
                and v.window is not None
                and v.window.pane_dead
                and not v.window.exit_pending
            ),
            None,
        ),
        timeout=20,
        what="the crash",
    )
    assert view.window.dead_status == 3
    assert view.hint.startswith("agent exited with status 3; restart with `gt sling --force")
    assert rig_town.beads.get(bead.id).status == "hooked"  # the work is still on the hook


@real_tmux
def test_nudges_show_in_the_demo_agents_window(
    rig_town: Town, tmux: TownTmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GT_DEMO_STEP", "1.5")  # slow enough to be nudged mid-work
    bead = rig_town.beads.create("Take your time", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    wait_until(lambda: "[1/6]" in tmux.capture(result.pane_id, lines=100), what="the demo start")
    outcome = nudge_agent(rig_town, tmux, "alpha/furiosa", "the storm is coming")
    assert outcome.status == "delivered", outcome.detail
    text = wait_until(
        lambda: (
            (pane := tmux.capture(result.pane_id, lines=200)).count(
                "nudge received: the storm is coming"
            )
            and pane
        ),
        what="the echo",
    )
    assert text.count("nudge received: the storm is coming") == 1


def test_demo_agent_outside_a_window_says_so(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("GT_AGENT", "GT_TOWN")}
    proc = subprocess.run(
        [sys.executable, "-m", "gastown_tui.runtimes.demo_agent"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "DEMO AGENT" in proc.stdout and "GT_AGENT must be set" in proc.stdout
