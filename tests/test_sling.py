"""gt sling: hook, polecat, worktree, window — real tmux on the town's own socket, real git."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gastown_tui.dispatch.agents import peek
from gastown_tui.dispatch.observe import observe
from gastown_tui.dispatch.sling import restart, sling, sling_many
from gastown_tui.tmux import TownTmux
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.town import Town
from tests import polecat_fixtures as pf
from tests.conftest import GtRunner, make_git_repo, snapshot_files
from tests.polecat_fixtures import add_runtime, git_out, polecat_doc, wait_until
from tests.tmux_helpers import real_tmux

polecat_env, tmux, reader = pf.polecat_env, pf.tmux, pf.reader

pytestmark = pytest.mark.tmux


@real_tmux
def test_sling_starts_window_with_env_worktree_and_branch(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    bead = rig_town.beads.create("Fix the flux capacitor", rig="alpha")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="reader")

    assert result.address == "alpha/furiosa" and result.created_polecat
    info = tmux.find_window("gt-alpha", "furiosa")
    assert info is not None and not info.pane_dead and info.pane_id == result.pane_id
    env_file = Path(str(reader) + ".env.json")
    dump = wait_until(lambda: env_file.exists() and json.loads(env_file.read_text() or "null"))
    env = dump["env"]
    worktree = rig_town.paths.polecat_dir("alpha", "furiosa")
    assert env["GT_TOWN"] == str(rig_town.root)
    assert env["GT_RIG"] == "alpha"
    assert env["GT_AGENT"] == "alpha/furiosa"
    assert env["GT_ROLE"] == "polecat"
    assert env["GT_BEAD"] == bead.id
    # The town's own `gt` first (written as the window started), then this installation's.
    town_bin, install_bin = env["PATH"].split(os.pathsep)[:2]
    assert town_bin == str(rig_town.paths.runtime / "bin") and (Path(town_bin) / "gt").exists()
    assert install_bin == str(Path(sys.executable).parent)
    assert env["GIT_AUTHOR_NAME"] == "furiosa"
    assert env["GT_BEACON"].startswith("[GAS TOWN] alpha/furiosa <- overseer • ")
    assert env["GT_BEACON"].endswith(
        f"assigned {bead.id}. Run gt prime and begin work on your hook."
    )
    assert Path(dump["cwd"]).resolve() == worktree.resolve()
    assert git_out(worktree, "rev-parse", "--abbrev-ref", "HEAD") == f"polecat/furiosa/{bead.id}"
    repo = rig_town.paths.rig_repo("alpha")
    assert git_out(worktree, "rev-parse", "HEAD") == git_out(repo, "rev-parse", "main")

    hooked = rig_town.beads.get(bead.id)
    assert (hooked.status, hooked.assignee) == ("hooked", "alpha/furiosa")
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None
    assert record["state"] == "working" and record["window"] == "furiosa"
    assert "starting" not in record and record["runtime"] == "reader"
    assert record["address"] == "alpha/furiosa" and record["session"] == "gt-alpha"
    assert record["pid"] == info.pane_pid
    assert rig_town.events.read(types=["polecat.slung"])[-1].bead == bead.id
    convoys = rig_town.convoys.convoys_of(bead.id)
    assert len(convoys) == 1 and convoys[0].beads == [bead.id]
    [view] = observe(rig_town, tmux)
    assert (view.state, view.bead_id) == ("working", bead.id)


@real_tmux
def test_eight_concurrent_slings_of_one_bead_one_winner(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    bead = rig_town.beads.create("Contended", rig="alpha")
    env = {**os.environ, "GT_TOWN": str(rig_town.root)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gastown_tui", "sling", bead.id, "alpha", "--agent", "reader"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(8)
    ]
    outcomes = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    winners = [o for o in outcomes if o[0] == 0]
    losers = [o for o in outcomes if o[0] != 0]
    assert len(winners) == 1, outcomes
    assert len(losers) == 7
    assert all(code == 2 and "already hooked by alpha/" in err for code, _, err in losers)
    assert len(rig_town.polecats.list()) == 1
    assert [w.window for w in tmux.list_windows()] == ["furiosa"]
    hooked = rig_town.beads.get(bead.id)
    assert hooked.assignee == "alpha/furiosa" and hooked.status == "hooked"


@real_tmux
def test_sling_several_beads_in_one_command(
    rig_town: Town, tmux: TownTmux, reader: Path, gt: GtRunner
) -> None:
    ids = [rig_town.beads.create(f"job {n}", rig="alpha").id for n in range(3)]
    proc = gt("sling", *ids, "alpha", "--agent", "reader", "--json")
    assert proc.returncode == 0, proc.stderr
    slung = orjson.loads(proc.stdout)["slung"]
    assert sorted(s["bead"] for s in slung) == sorted(ids)
    agents = {s["agent"] for s in slung}
    assert agents == {"alpha/furiosa", "alpha/nux", "alpha/slit"}
    assert sorted(w.window for w in tmux.list_windows()) == ["furiosa", "nux", "slit"]
    for s in slung:
        assert rig_town.beads.get(s["bead"]).assignee == s["agent"]
        assert git_out(Path(s["worktree"]), "rev-parse", "--abbrev-ref", "HEAD") == s["branch"]


@real_tmux
def test_sling_new_text_creates_the_bead(rig_town: Town, tmux: TownTmux, reader: Path) -> None:
    result = sling(rig_town, tmux, "Write the release notes", "alpha", runtime="reader")
    bead = rig_town.beads.get(result.bead)
    assert result.created_bead and bead.title == "Write the release notes"
    assert (bead.status, bead.assignee) == ("hooked", "alpha/furiosa")


@real_tmux
def test_sling_to_a_named_polecat_and_busy_refusal(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    one = rig_town.beads.create("one", rig="alpha")
    two = rig_town.beads.create("two", rig="alpha")
    result = sling(rig_town, tmux, one.id, "alpha", runtime="reader", to="max")
    assert result.address == "alpha/max"
    before = snapshot_files(rig_town.root)
    with pytest.raises(GtError, match="busy"):
        sling(rig_town, tmux, two.id, "alpha", runtime="reader", to="max")
    assert snapshot_files(rig_town.root) == before


@real_tmux
def test_reuse_idle_polecat_resets_only_the_branch(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    from gastown_tui.town.work import complete

    first = rig_town.beads.create("first", rig="alpha")
    sling(rig_town, tmux, first.id, "alpha", runtime="reader")
    worktree = rig_town.paths.polecat_dir("alpha", "furiosa")
    (worktree / "first.txt").write_text("committed work\n")
    complete(rig_town, "alpha/furiosa")
    first_head = git_out(worktree, "rev-parse", "HEAD")
    # Left dirty after done (an agent that kept typing): reuse must not lose it.
    (worktree / "late.txt").write_text("late work\n")

    second = rig_town.beads.create("second", rig="alpha")
    result = sling(rig_town, tmux, second.id, "alpha", runtime="reader")
    assert result.address == "alpha/furiosa" and not result.created_polecat
    assert len(rig_town.polecats.list()) == 1
    repo = rig_town.paths.rig_repo("alpha")
    old_branch = f"polecat/furiosa/{first.id}"
    # The old branch keeps its commits plus the saved late work...
    assert git_out(repo, "rev-parse", f"{old_branch}~1") == first_head
    files = git_out(repo, "ls-tree", "--name-only", old_branch).split()
    assert {"first.txt", "late.txt"} <= set(files)
    # ...and the worktree starts clean from main on the new branch.
    assert git_out(worktree, "rev-parse", "--abbrev-ref", "HEAD") == f"polecat/furiosa/{second.id}"
    assert git_out(worktree, "rev-parse", "HEAD") == git_out(repo, "rev-parse", "main")
    assert not (worktree / "first.txt").exists() and not (worktree / "late.txt").exists()
    record = polecat_doc(rig_town, "alpha", "furiosa")
    assert record is not None and [h["bead"] for h in record["history"]] == [first.id]


@real_tmux
def test_sling_rolls_back_when_the_agent_dies_at_once(rig_town: Town, tmux: TownTmux) -> None:
    script = "import sys; print('config error: no model named zork', flush=True); sys.exit(3)"
    add_runtime(rig_town, "broken", [sys.executable, "-c", script])
    bead = rig_town.beads.create("doomed", rig="alpha")
    with pytest.raises(GtFailure, match="rolled back") as failed:
        sling(rig_town, tmux, bead.id, "alpha", runtime="broken")
    # The failure says why, in the agent's own words.
    assert "exited during start-up" in str(failed.value)
    assert "config error: no model named zork" in str(failed.value)
    after = rig_town.beads.get(bead.id)
    assert (after.status, after.assignee) == ("open", None)  # back to ready
    # The polecat stays (idle) and its dead pane is kept, so `gt peek` can show why.
    [polecat] = rig_town.polecats.list()
    assert polecat.state == "idle"
    [window] = tmux.list_windows()
    assert window.pane_dead
    assert "no model named zork" in peek(rig_town, tmux, "alpha/furiosa")
    # Once the window is gone, the saved screen still answers `gt peek`.
    tmux.kill_window("gt-alpha", "furiosa")
    assert "no model named zork" in peek(rig_town, tmux, "alpha/furiosa")
    assert rig_town.events.read(types=["polecat.sling_failed"])


@real_tmux
def test_sling_says_which_signal_killed_an_agent_during_start_up(
    rig_town: Town, tmux: TownTmux
) -> None:
    """Killed by a signal, a process has no exit status: that is a failed start too, not a
    clean exit (a crash in a native agent is a SIGSEGV)."""
    add_runtime(rig_town, "segfault", ["sh", "-c", "echo starting; sleep 0.2; kill -SEGV $$"])
    bead = rig_town.beads.create("crashes hard", rig="alpha")
    with pytest.raises(GtFailure, match=r"exited during start-up .*\(it was killed by SIGSEGV\)"):
        sling(rig_town, tmux, bead.id, "alpha", runtime="segfault")
    assert rig_town.beads.get(bead.id).status == "open"


@real_tmux
def test_sling_returns_once_the_agent_draws_its_screen(rig_town: Town, tmux: TownTmux) -> None:
    # No `started` text: the sling waits until the process has lived start_grace seconds.
    slow = "import time; time.sleep(1.2); raise SystemExit(4)"
    add_runtime(rig_town, "late-crash", [sys.executable, "-c", slow])
    bead = rig_town.beads.create("dies after a second", rig="alpha")
    with pytest.raises(GtFailure, match="exited during start-up"):
        sling(rig_town, tmux, bead.id, "alpha", runtime="late-crash")
    assert rig_town.beads.get(bead.id).status == "open"
    # With `started` text it returns as soon as that shows, well before the grace period.
    rig_town.config.raw["runtimes"]["banner"] = {
        "command": [
            sys.executable,
            "-c",
            "import time; print('BOT READY', flush=True); time.sleep(60)",
        ],
        "started": "BOT READY",
        "start_grace": 30,
    }
    other = rig_town.beads.create("starts fine", rig="alpha")
    result = sling(rig_town, tmux, other.id, "alpha", runtime="banner")
    assert result.elapsed < 15


@real_tmux
def test_force_resling_restarts_a_dead_agent_in_place(
    rig_town: Town, tmux: TownTmux, reader: Path, gt: GtRunner
) -> None:
    bead = rig_town.beads.create("keep going", rig="alpha")
    sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    worktree = rig_town.paths.polecat_dir("alpha", "furiosa")
    (worktree / "wip.txt").write_text("half done\n")
    tmux.kill_window("gt-alpha", "furiosa")
    [view] = observe(rig_town, tmux)
    assert view.state == "zombie" and f"gt sling --force {bead.id}" in view.hint

    proc = gt("sling", bead.id, "alpha")
    assert proc.returncode == 2 and "already hooked by alpha/furiosa" in proc.stderr
    proc = gt("sling", "--force", bead.id)  # the rig comes from the bead
    assert proc.returncode == 0, proc.stderr
    assert "alpha/furiosa" in proc.stdout
    [view] = observe(rig_town, tmux)
    assert view.state == "working" and view.window is not None and view.window.alive
    assert (worktree / "wip.txt").read_text() == "half done\n"  # a restart keeps the work
    assert len(rig_town.polecats.list()) == 1


@real_tmux
def test_force_moves_a_bead_to_another_polecat_saving_work(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    bead = rig_town.beads.create("move me", rig="alpha")
    sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    old = rig_town.paths.polecat_dir("alpha", "furiosa")
    (old / "wip.txt").write_text("unsaved\n")
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="reader", to="nux", force=True)
    assert result.address == "alpha/nux"
    assert rig_town.beads.get(bead.id).assignee == "alpha/nux"
    assert not git_out(old, "status", "--porcelain")  # furiosa's work was committed
    assert tmux.find_window("gt-alpha", "furiosa") is None
    furiosa = polecat_doc(rig_town, "alpha", "furiosa")
    assert furiosa is not None and furiosa["history"][-1]["result"] == "reassigned"


@real_tmux
def test_restart_helper_for_the_supervisor(rig_town: Town, tmux: TownTmux, reader: Path) -> None:
    bead = rig_town.beads.create("restartable", rig="alpha")
    first = sling(rig_town, tmux, bead.id, "alpha", runtime="reader")
    again = restart(rig_town, tmux, "furiosa")
    assert again.address == first.address and again.pane_id
    assert again.pid != first.pid


@real_tmux
def test_sling_many_in_parallel_distinct_polecats(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    ids = [rig_town.beads.create(f"bulk {n}", rig="alpha").id for n in range(12)]
    batch = sling_many(rig_town, tmux, ids, "alpha", runtime="reader")
    assert batch.ok, batch.failures
    assert len({r.address for r in batch.results}) == 12
    windows = [w for w in tmux.list_windows() if not w.pane_dead]
    assert len(windows) == 12


# -- bad input: one clear line, exit 2, nothing written --------------------------------------
@pytest.fixture
def second_rig(rig_town: Town, tmp_path: Path) -> str:
    repo = make_git_repo(tmp_path / "beta-upstream")
    rig_town.rigs.add("beta", str(repo), prefix="be")
    return rig_town.beads.create("a beta bead", rig="beta").id


@real_tmux
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown_rig", "unknown rig 'nowhere'"),
        ("unknown_bead", "unknown bead 'al-zzzzz'"),
        ("other_rig", "belongs to rig 'beta', not 'alpha'"),
        ("runtime_missing", "needs the `no-such-agent-binary` command, which is not installed"),
        ("runtime_unknown", "unknown runtime 'robot'"),
        ("tmux_missing", "tmux is not installed"),
        ("tmux_missing_text", "tmux is not installed"),
        ("bad_to", "invalid polecat name"),
        ("bad_convoy", "unknown convoy"),
        ("closed", "is closed, not open"),
    ],
)
def test_sling_bad_input_exit_2_and_no_partial_state(
    rig_town: Town,
    tmux: TownTmux,
    reader: Path,
    gt: GtRunner,
    second_rig: str,
    tmp_path: Path,
    case: str,
    expected: str,
) -> None:
    add_runtime(rig_town, "ghost", ["no-such-agent-binary", "--yes"])
    bead = rig_town.beads.create("target", rig="alpha")
    closed = rig_town.beads.create("finished", rig="alpha")
    rig_town.beads.close(closed.id)
    no_tmux = tmp_path / "bin-without-tmux"
    no_tmux.mkdir()
    (no_tmux / "git").symlink_to("/usr/bin/git")
    args = {
        "unknown_rig": [bead.id, "nowhere", "--agent", "reader"],
        "unknown_bead": ["al-zzzzz", "alpha", "--agent", "reader"],
        "other_rig": [second_rig, "alpha", "--agent", "reader"],
        "runtime_missing": [bead.id, "alpha", "--agent", "ghost"],
        "runtime_unknown": [bead.id, "alpha", "--agent", "robot"],
        "tmux_missing": [bead.id, "alpha", "--agent", "reader"],
        "tmux_missing_text": ["brand new work", "alpha", "--agent", "reader"],
        "bad_to": [bead.id, "alpha", "--agent", "reader", "--to", "Bad.Name"],
        "bad_convoy": [bead.id, "alpha", "--agent", "reader", "--convoy", "cv-nope1"],
        "closed": [closed.id, "alpha", "--agent", "reader"],
    }[case]
    env = {"PATH": str(no_tmux)} if case.startswith("tmux_missing") else None
    before = snapshot_files(rig_town.root)
    proc = gt("sling", *args, env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert expected in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gt: error: "), proc.stderr
    assert snapshot_files(rig_town.root) == before
    assert tmux.list_windows() == []


def test_branch_exists_reads_the_ref_store_as_git_does(tmp_path: Path) -> None:
    from gastown_tui.town.worktrees import _ref_in_files, branch_exists
    from tests.conftest import make_git_repo

    repo = make_git_repo(tmp_path / "repo")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    def shown(branch: str) -> bool:
        ref = f"refs/heads/{branch}"
        proc = subprocess.run(["git", "show-ref", "--verify", "--quiet", ref], cwd=repo)
        return proc.returncode == 0

    git("branch", "polecat/nux/al-1")  # loose
    git("branch", "polecat/nux/al-2")
    git("pack-refs", "--all")  # packed, no loose file
    git("branch", "polecat/nux/al-3")
    names = ["main", "polecat/nux/al-1", "polecat/nux/al-2", "polecat/nux/al-3"]
    names += ["polecat/nux/al-4", "polecat/nux", "polecat", "al-1", "polecat/nux/al-"]
    for name in names:
        assert _ref_in_files(repo, f"refs/heads/{name}") is not None  # read without git
        assert branch_exists(repo, name) == shown(name), name
    # A worktree's .git is a file: git is asked.
    git("worktree", "add", "-q", "-b", "wt", str(tmp_path / "wt"))
    assert _ref_in_files(tmp_path / "wt", "refs/heads/wt") is None
    assert branch_exists(tmp_path / "wt", "wt") and not branch_exists(tmp_path / "wt", "nope")
