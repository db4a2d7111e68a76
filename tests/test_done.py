"""The agent's side of GUPP: gt prime, gt hook, gt done (no tmux needed for any of them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gastown_tui.town.errors import GtError
from gastown_tui.town.town import Town
from gastown_tui.town.work import (
    complete,
    hooked_bead,
    prime_text,
    queue_nudge,
    queued_nudges,
)
from tests.conftest import GtRunner, snapshot_files
from tests.polecat_fixtures import git_out, hook_without_window, polecat_doc


@pytest.fixture
def agent(rig_town: Town) -> tuple[str, str]:
    """(address, bead id) of a polecat with hooked work and a worktree, no window."""
    bead = rig_town.beads.create(
        "Teach the war rig to fly", rig="alpha", description="Wings first.", labels=["demo"]
    )
    return hook_without_window(rig_town, bead.id), bead.id


def test_hooked_bead_is_derived_from_the_bead(rig_town: Town, agent: tuple[str, str]) -> None:
    address, bead_id = agent
    assert hooked_bead(rig_town, address).id == bead_id  # type: ignore[union-attr]
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None and "bead" not in record and "hook" not in record
    rig_town.beads.update(bead_id, status="in_progress")
    assert hooked_bead(rig_town, address).id == bead_id  # type: ignore[union-attr]
    rig_town.beads.update(bead_id, assignee=None)
    assert hooked_bead(rig_town, address) is None


def test_prime_text_has_role_hook_rules_mail_and_nudges(
    rig_town: Town, agent: tuple[str, str]
) -> None:
    address, bead_id = agent
    queue_nudge(rig_town, address, "look at the carburettor first", sender="overseer")
    text = prime_text(rig_town, address)
    assert "You are alpha/furiosa, a polecat" in text
    assert f"{bead_id}  Teach the war rig to fly" in text
    assert "Wings first." in text and "labels: demo" in text
    assert "Work on it now" in text and "Commit as you go" in text
    assert "gt done" in text and "gt mail send" in text and "gt escalate" in text
    assert "look at the carburettor first" in text and "from overseer" in text
    assert "0 unread messages" in text
    # Showing a queued nudge delivers it: it is gone from the queue.
    assert queued_nudges(rig_town, address) == []
    assert "carburettor" not in prime_text(rig_town, address)


def test_prime_counts_unread_mail(rig_town: Town, agent: tuple[str, str]) -> None:
    address, _ = agent
    rig_town.mail.send([address], "hello", "body", sender="overseer")
    rig_town.mail.send([address], "again", "body", sender="overseer")
    assert "2 unread messages — read them with `gt mail inbox`" in prime_text(rig_town, address)


def test_gt_prime_and_hook_cli(rig_town: Town, agent: tuple[str, str], gt: GtRunner) -> None:
    address, bead_id = agent
    env = {"GT_AGENT": address}
    prime = gt("prime", env=env)
    assert prime.returncode == 0, prime.stderr
    assert bead_id in prime.stdout and "GUPP" in prime.stdout
    # The short name works with --agent too.
    assert gt("prime", "--agent", "furiosa").stdout == prime.stdout
    hook = gt("hook", "--json", env=env)
    doc = orjson.loads(hook.stdout)
    assert doc["agent"] == address and doc["bead"]["id"] == bead_id
    assert doc["branch"] == f"polecat/furiosa/{bead_id}"
    assert gt("hook", env=env).stdout.startswith(f"{bead_id}  Teach the war rig to fly")
    # Any gt call from an agent touches its heartbeat.
    heartbeat = rig_town.paths.heartbeat(address)
    assert heartbeat.exists()
    assert orjson.loads(heartbeat.read_bytes())["agent"] == address


def test_agent_commands_do_not_import_tmux(rig_town: Town, agent: tuple[str, str]) -> None:
    address, _ = agent
    code = (
        "import sys\n"
        "from gastown_tui.cli import main\n"
        "for cmd in (['prime'], ['hook', '--json'], ['done', '-m', 'ok']):\n"
        "    assert main(cmd) == 0, cmd\n"
        "print('libtmux' in sys.modules, 'gastown_tui.dispatch' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "GT_TOWN": str(rig_town.root), "GT_AGENT": address},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False False"


def test_done_commits_uncommitted_work_and_closes(
    rig_town: Town, agent: tuple[str, str], gt: GtRunner
) -> None:
    address, bead_id = agent
    worktree = rig_town.paths.polecat_dir("alpha", "furiosa")
    (worktree / "wings.txt").write_text("two of them\n")
    (worktree / "README.md").write_text("# project, now flying\n")
    proc = gt("done", "-m", "it flies", env={"GT_AGENT": address})
    assert proc.returncode == 0, proc.stderr
    assert "committed uncommitted work" in proc.stdout and f"{bead_id} closed" in proc.stdout

    assert git_out(worktree, "status", "--porcelain") == ""
    assert git_out(worktree, "log", "-1", "--format=%an <%ae>") == (
        "furiosa <furiosa@alpha.gastown.local>"
    )
    files = git_out(worktree, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == ["README.md", "wings.txt"]
    head = git_out(worktree, "rev-parse", "HEAD")

    bead = rig_town.beads.get(bead_id)
    assert (bead.status, bead.close_reason) == ("closed", "it flies")
    [mr] = rig_town.storage.merge_requests.docs("alpha")
    assert mr["bead"] == bead_id and mr["commit"] == head and mr["status"] == "pending"
    assert mr["branch"] == f"polecat/furiosa/{bead_id}" and mr["polecat"] == address
    assert mr["rig"] == "alpha" and mr["id"].startswith("mr-") and mr["created"]
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None and record["state"] == "idle"
    assert record["history"][-1]["bead"] == bead_id
    assert record["history"][-1]["result"] == "completed"
    assert record["history"][-1]["commit"] == head
    [event] = rig_town.events.read(types=["polecat.done"])
    assert event.bead == bead_id and event.actor == address
    assert hooked_bead(rig_town, address) is None


def test_done_deferred_returns_the_bead_with_a_note(rig_town: Town, agent: tuple[str, str]) -> None:
    address, bead_id = agent
    result = complete(rig_town, address, "deferred", "needs the new engine first")
    bead = rig_town.beads.get(bead_id)
    assert (bead.status, bead.assignee) == ("open", None)
    assert "DEFERRED by alpha/furiosa: needs the new engine first" in bead.comments[-1].text
    assert result.merge_request is None
    assert rig_town.storage.merge_requests.docs("alpha") == []
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None and record["history"][-1]["result"] == "deferred"


def test_done_escalated(rig_town: Town, agent: tuple[str, str]) -> None:
    address, bead_id = agent
    complete(rig_town, address, "escalated", "the fuel pump is beyond me")
    bead = rig_town.beads.get(bead_id)
    assert bead.status == "open" and bead.comments[-1].text.startswith("ESCALATED")


def test_done_lands_the_one_bead_convoy(rig_town: Town, agent: tuple[str, str]) -> None:
    address, bead_id = agent
    convoy = rig_town.convoys.create("fly", [bead_id], auto=True)
    complete(rig_town, address)
    assert rig_town.convoys.get(convoy.id).state == "landed"


def test_done_never_commits_the_claude_settings(rig_town: Town, agent: tuple[str, str]) -> None:
    from gastown_tui.runtimes.presets import install_claude_hook

    address, _ = agent
    worktree = rig_town.paths.polecat_dir("alpha", "furiosa")
    install_claude_hook(worktree)
    (worktree / "real.txt").write_text("work\n")
    complete(rig_town, address)
    files = git_out(worktree, "show", "--name-only", "--format=", "HEAD").split()
    assert files == ["real.txt"]
    assert (worktree / ".claude" / "settings.local.json").exists()


def test_done_outside_an_agent_is_a_clear_error(
    rig_town: Town, agent: tuple[str, str], gt: GtRunner
) -> None:
    before = snapshot_files(rig_town.root)
    proc = gt("done")
    assert proc.returncode == 2
    assert proc.stderr.startswith("gt: error: gt done runs as an agent")
    assert "GT_AGENT" in proc.stderr and "--agent" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    for args, env, message in [
        (["done", "--agent", "alpha/nobody"], None, "unknown agent"),
        (["done"], {"GT_AGENT": "nowhere/furiosa"}, "unknown agent"),
        (["prime"], {"GT_AGENT": "alpha/nobody"}, "unknown agent"),
    ]:
        bad = gt(*args, env=env)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
    assert snapshot_files(rig_town.root) == before


def test_done_with_nothing_hooked(rig_town: Town, agent: tuple[str, str]) -> None:
    address, _ = agent
    complete(rig_town, address)
    with pytest.raises(GtError, match="nothing is on alpha/furiosa's hook"):
        complete(rig_town, address)


def test_done_on_a_plain_directory_rig(rig_town: Town, tmp_path: Path) -> None:
    folder = tmp_path / "support"
    folder.mkdir()
    rig_town.rigs.add("desk", str(folder), no_git=True, prefix="dk")
    bead = rig_town.beads.create("answer the ticket", rig="desk")
    address = hook_without_window(rig_town, bead.id, rig="desk")
    result = complete(rig_town, address, note="answered")
    assert result.commit is None and result.merge_request is None
    assert rig_town.beads.get(bead.id).status == "closed"
