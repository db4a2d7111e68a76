"""The composition root (gastown_tui/compose.py): every entry point wires a town the same way.

The one hook today: mail delivered to a polecat nudges it. Before, `gt mail` and the app
installed it and `gt daemon` did not, so the refinery's REWORK_REQUEST reached a polecat with
a nudge only while an app supervised.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import pytest

from gastown_tui.commands.common import open_town
from gastown_tui.compose import wire
from gastown_tui.dispatch.nudge import mail_nudge_text
from gastown_tui.dispatch.sling import sling
from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from gastown_tui.town.work import complete
from gastown_tui.tui.app import make_app
from gastown_tui.views.actions import TownData
from tests import polecat_fixtures as pf
from tests.conftest import GIT_IDENTITY, GtRunner, wait_until
from tests.polecat_fixtures import received_lines
from tests.tmux_helpers import real_tmux

polecat_env, tmux, reader = pf.polecat_env, pf.tmux, pf.reader


def _mail_hooks(town: Town) -> list[str]:
    return [getattr(hook, "__name__", "") for hook in town.mail.on_delivered]


def test_every_entry_point_wires_the_mail_hook_once(town: Town) -> None:
    cli_town = open_town(argparse.Namespace(town=str(town.root)))  # every `gt` command
    assert _mail_hooks(cli_town) == ["nudge_mail_recipients"]
    wire(cli_town)  # a second wiring (gt mail's own call) changes nothing
    assert _mail_hooks(cli_town) == ["nudge_mail_recipients"]
    app_town = Town.open(town.root)
    make_app(app_town, data=TownData(app_town, None), watch=False)  # the app, gt serve
    assert _mail_hooks(app_town) == ["nudge_mail_recipients"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        env={**os.environ, **GIT_IDENTITY},
    )


@real_tmux
@pytest.mark.tmux
def test_under_gt_daemon_the_rework_request_reaches_the_polecat_and_nudges_it(
    rig_town: Town, tmux: TownTmux, reader: Path, gt: GtRunner
) -> None:
    # alpha/furiosa runs the reader (a program that records each line typed into its window).
    bead = rig_town.beads.create("Rewrite the readme", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    wait_until(lambda: "READY" in tmux.capture(result.pane_id), what="the reader")
    # It finishes (gt done) with a README that main has changed meanwhile: a conflict.
    (Path(result.worktree) / "README.md").write_text("# the polecat's readme\n")
    complete(rig_town, result.address)
    repo = Path(rig_town.rigs.get("alpha").path)
    (repo / "README.md").write_text("# main's readme\n")
    _git(repo, "commit", "-qam", "main moves on")
    assert received_lines(reader) == []

    # `gt daemon` (one cycle: the same process and wiring as a running daemon) patrols.
    proc = gt("daemon", "--once", timeout=120)
    assert proc.returncode == 0, proc.stderr

    [message] = rig_town.mail.inbox(result.address)
    assert message.subject.startswith(f"REWORK_REQUEST {bead.id}")
    assert message.sender == "alpha/refinery"
    nudge = mail_nudge_text("alpha/refinery", message.subject)
    wait_until(lambda: nudge in received_lines(reader), what="the nudge in the polecat's window")
