"""Hostile text and files: nothing typed into a person's shell, nothing obeyed by a terminal,
nothing written outside the town, nothing readable by others."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gastown_tui.dispatch.nudge import nudge_agent
from gastown_tui.dispatch.sling import sling
from gastown_tui.supervise.witness import Witness
from gastown_tui.tmux import TownTmux
from gastown_tui.town.display import json_safe, safe
from gastown_tui.town.errors import GtError
from gastown_tui.town.town import Town
from tests import polecat_fixtures as pf
from tests.conftest import GIT_IDENTITY, ROOT, GtRunner, make_git_repo, snapshot_files, wait_until
from tests.tmux_helpers import real_tmux

polecat_env, tmux = pf.polecat_env, pf.tmux

# Bytes a terminal obeys or that reorder what a person reads.
HOSTILE_BYTES = ("\x1b", "\x07", "\x9b", "\x9d", "\x7f", "\u202e", "\u2066", "\x00")


def _injections(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Files that only a shell running our text would create, and the texts that would."""
    files = {name: folder / f"pwned-{name}" for name in ("dollar", "tick", "semi", "line")}
    texts = [
        f"hi $(touch {files['dollar']})",
        f"x `touch {files['tick']}` y",
        f"z; touch {files['semi']}",
    ]
    return files, texts


@real_tmux
def test_automatic_nudges_never_type_into_a_persons_shell(
    rig_town: Town, tmux: TownTmux, gt: GtRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELL", "/bin/sh")
    files, texts = _injections(tmp_path)
    title = " ".join(texts)
    description = f"first\ntouch {files['line']}\n{texts[0]}"
    bead = rig_town.beads.create(title, rig="alpha", description=description)
    result = sling(rig_town, tmux, bead.id, "alpha", runtime="shell")
    # The shell runtime prints the beacon and `gt prime` (the hook in full), then hands over.
    wait_until(lambda: "== Your hook ==" in tmux.capture(result.pane_id), what="gt prime")

    # Mail notices: subject and body hostile, sent as a person would (the CLI wires nudges).
    for text in texts:
        proc = gt(
            "mail", "send", result.address, "-s", text, "-m", f"{text}\ntouch {files['line']}"
        )
        assert proc.returncode == 0, proc.stderr
    # The witness's stall nudge: a hook with no activity for longer than `stalled`.
    toml = rig_town.paths.town_toml.read_text()
    assert 'stalled = "15m"' in toml
    rig_town.paths.town_toml.write_text(toml.replace('stalled = "15m"', 'stalled = "1s"'))
    rig_town.__dict__.pop("config", None)
    wait_until(
        lambda: any("nudge" in a for a in Witness(rig_town, tmux, "alpha").patrol()),
        timeout=20,
        what="the witness's stall nudge",
    )
    nudged = [e for e in rig_town.events.iter_all() if e.type == "witness.nudged"]
    assert nudged and "skipped" in nudged[-1].msg
    # Directly, with the stall nudge's own flags and hostile text: skipped, nothing typed.
    for text in texts:
        outcome = nudge_agent(rig_town, tmux, result.address, text, automatic=True)
        assert outcome.status == "skipped", outcome.detail

    # A person's explicit nudge still types (they typed it): proof the shell runs what is
    # typed, and a barrier: the shell runs lines in order, so anything typed before ran first.
    barrier = tmp_path / "person-typed-this"
    proc = gt("nudge", result.address, f"touch {barrier}")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    wait_until(barrier.exists, what="the person's own command to run")
    assert not [p.name for p in files.values() if p.exists()]
    pane = tmux.capture(result.pane_id)
    assert "You have mail" not in pane and "witness: no activity" not in pane


def test_runtimes_that_take_prompts_are_explicit(town: Town) -> None:
    from gastown_tui.runtimes.presets import all_runtimes

    with open(town.paths.town_toml, "a", encoding="utf-8") as handle:
        handle.write('\n[runtimes.mybot]\ncommand = ["mybot"]\n')
        handle.write('\n[runtimes.talker]\ncommand = ["talker"]\ntakes_prompts = true\n')
        handle.write('\n[runtimes.typed]\ncommand = ["typed"]\nprompt = "nudge"\n')
    runtimes = all_runtimes(town)
    assert not runtimes["shell"].takes_prompts
    assert not runtimes["mybot"].takes_prompts  # unknown user runtime: never typed into
    assert runtimes["talker"].takes_prompts
    assert runtimes["typed"].takes_prompts  # its first prompt is typed in: it takes prompts
    assert all(runtimes[n].takes_prompts for n in ("claude", "codex", "gemini", "aider", "demo"))


# -- import: ids and titles checked as on create; paths never leave the town ---------------------
def _issues(folder: Path, rows: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "issues.jsonl"
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return folder


@pytest.mark.parametrize(
    "row",
    [
        {"id": "zz-../../../../pwned", "title": "escape"},
        {"id": "zz-a/b", "title": "slash"},
        {"id": "..", "title": "dots"},
        {"id": "zz-ok1", "title": "x" * 1_000_000},
        {"id": "zz-ok2", "title": "red \x1b]0;pwned\x07 title"},
        {"id": "zz-ok3", "title": "bidi \u202eevil"},
        {"id": "zz-ok4", "title": "c1 \x9b31m"},
        {"id": "zz-ok5", "title": "fine", "description": "osc \x1b]0;pwned\x07"},
    ],
    ids=["traversal", "slash", "dots", "1mb-title", "osc-title", "bidi", "c1", "osc-desc"],
)
def test_import_refuses_hostile_ids_and_titles(
    rig_town: Town, gt: GtRunner, tmp_path: Path, row: dict[str, object]
) -> None:
    source = _issues(tmp_path / "bd", [row])
    before = snapshot_files(rig_town.root)
    proc = gt("bead", "import", str(source))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "\x1b" not in proc.stderr and "\u202e" not in proc.stderr
    assert snapshot_files(rig_town.root) == before


def test_import_skip_bad_keeps_the_good_rows_only(
    rig_town: Town, gt: GtRunner, tmp_path: Path
) -> None:
    source = _issues(
        tmp_path / "bd",
        [{"id": "zz-../../pwned", "title": "escape"}, {"id": "zz-good1", "title": "fine"}],
    )
    proc = gt("bead", "import", str(source), "--skip-bad", "--json")
    assert proc.returncode == 0, proc.stderr
    assert rig_town.beads.find("zz-good1") is not None
    assert "zz-../../pwned" not in rig_town.ids.all()
    assert not (tmp_path / "pwned").exists()


def test_paths_from_names_are_refused_not_normalised(town: Town) -> None:
    paths = town.paths
    for call in (
        lambda: paths.rig_dir(".."),
        lambda: paths.rig_file("../x"),
        lambda: paths.polecat_dir("alpha", ".."),
        lambda: paths.polecat_dir("alpha", "a/b"),
        lambda: paths.lock("a/../../b"),
        lambda: paths.archive_file("../../x"),
        lambda: paths.rig_dir("a\x00b"),
    ):
        with pytest.raises(GtError, match="cannot name a file"):
            call()
    # Addresses are encoded into one component: `/` never reaches the file system.
    assert paths.heartbeat("../../x").parent == paths.heartbeats
    assert paths.nudge_queue("a/../b").parent == paths.nudge_queue_root


def test_the_demo_agent_refuses_an_id_that_leaves_its_folder() -> None:
    from gastown_tui.town.validate import check_bead_id

    for bad in ("zz-../../x", "zz-a/b", "..", "zz-x.lock", "zz-x.", "", "nodash", "zz-\x1b"):
        with pytest.raises(GtError):
            check_bead_id(bad)
    for good in ("gt-ab12c", "hq-x.1", "gt-gastown-polecat-Toast", "gt-eph-04p3"):
        assert check_bead_id(good) == good


# -- input validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "title", ["del \x7f", "c1 \x85x", "csi \x9b2J", "bidi \u202e", "iso \u2066x", "esc \x1b[2J"]
)
def test_titles_and_subjects_refuse_terminal_controls(
    rig_town: Town, gt: GtRunner, title: str
) -> None:
    before = snapshot_files(rig_town.root)
    for args in (
        ("bead", "create", title),
        ("mail", "send", "mayor", "-s", title, "-m", "x"),
        ("convoy", "create", title),
        ("bead", "create", "ok", "-d", f"a\n{title}"),
    ):
        proc = gt(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not any(ch in proc.stderr for ch in HOSTILE_BYTES)
    assert snapshot_files(rig_town.root) == before


def test_descriptions_and_bodies_keep_newlines_and_tabs(rig_town: Town, gt: GtRunner) -> None:
    proc = gt("bead", "create", "multi", "-d", "line one\n\tindented\nline three", "--json")
    assert proc.returncode == 0, proc.stderr
    bead = rig_town.beads.get(orjson.loads(proc.stdout)["id"])
    assert bead.description == "line one\n\tindented\nline three"
    proc = gt("mail", "send", "mayor", "-s", "multi", "-m", "a\n\tb")
    assert proc.returncode == 0, proc.stderr


# -- display: stored bytes are shown, never obeyed ---------------------------------------------
def test_safe_escapes_every_terminal_control_visibly() -> None:
    assert safe("a\x1b]0;t\x07b") == "a\\x1b]0;t\\x07b"
    assert safe("x\x9b\x7f\u202e\u2067") == "x\\x9b\\x7f\\u202e\\u2067"
    assert safe("one\ntwo\tthree") == "one\\x0atwo\\x09three"
    assert safe("one\ntwo\tthree", multiline=True) == "one\ntwo\tthree"
    assert safe("plain ünïcode ✓ 日本") == "plain ünïcode ✓ 日本"
    # A nudge typed into a pane: sequences go, what is left that could fool a reader shows.
    from gastown_tui.tmux.nudge import sanitize

    assert sanitize("a\x1b]2;t\x07b\u202ec") == "ab\\u202ec"
    data = orjson.dumps({"t": "a\x7f\u202e\x1b"})
    assert orjson.loads(json_safe(data)) == {"t": "a\x7f\u202e\x1b"}
    assert not any(ch.encode() in json_safe(data) for ch in ("\x7f", "\u202e", "\x1b"))


OSC_TITLE = "\x1b]2;PWNED-TITLE\x07"


def _store_hostile_text(town: Town) -> tuple[str, str]:
    """Stored before validation existed (or by another tool): written to the store directly."""
    bead = town.beads.create("plain", rig="alpha", description="plain")

    def hostile(b) -> str:  # Bead
        b.title = f"evil {OSC_TITLE} \u202eright \x9b2J"
        b.description = f"line\n{OSC_TITLE}\x07 and \x1b[2J"
        return "hostile"

    town.beads.mutate(bead.id, hostile)
    town.events.append("bead.note", actor="x", rig="alpha", bead=bead.id, msg=f"ev {OSC_TITLE}")
    sent = town.mail.send(["mayor"], "plain", "plain", sender="overseer")
    town.mail.send(["overseer"], "plain", "plain", sender="mayor")
    for address in ("mayor", "overseer"):
        inbox = town.paths.mail_file(address)
        raw = inbox.read_bytes()
        raw = raw.replace(b'"plain"', orjson.dumps(f"subj {OSC_TITLE} \u202e"), 1)
        raw = raw.replace(b'"plain"', orjson.dumps(f"body\n{OSC_TITLE}"), 1)
        inbox.write_bytes(raw)
    return bead.id, sent[0].id


def test_cli_output_escapes_stored_controls(rig_town: Town, gt: GtRunner) -> None:
    bead_id, message_id = _store_hostile_text(rig_town)
    commands = [
        ("bead", "list"),
        ("bead", "show", bead_id),
        ("bead", "show", bead_id, "--json"),
        ("ready",),
        ("trail",),
        ("trail", "--json"),
        ("feed", "--plain"),
        ("mail", "inbox", "mayor"),
        ("mail", "read", message_id),
        ("mail", "thread", message_id),
        ("mail", "inbox", "mayor", "--json"),
        ("watch", "--once"),
        ("status",),
    ]
    for args in commands:
        proc = gt(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        out = proc.stdout + proc.stderr
        assert not any(ch in out for ch in HOSTILE_BYTES), (args, out)
        assert "PWNED-TITLE" in out, (args, out)  # shown, as text


def test_gt_prime_escapes_the_hook(rig_town: Town, gt: GtRunner) -> None:
    bead_id, _ = _store_hostile_text(rig_town)
    address = pf.hook_without_window(rig_town, bead_id)
    proc = gt("prime", agent=address)
    assert proc.returncode == 0, proc.stderr
    assert "PWNED-TITLE" in proc.stdout
    assert not any(ch in proc.stdout for ch in HOSTILE_BYTES), proc.stdout


# -- private files ---------------------------------------------------------------------------
def _run(cmd: list[str], umask: int, env: dict[str, str], cwd: Path = ROOT) -> str:
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        preexec_fn=lambda: os.umask(umask),
    )
    assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
    return proc.stdout


@real_tmux
@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_the_town_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        upstream = make_git_repo(tmp_path / "upstream")
    finally:
        os.umask(old)
    root = tmp_path / "town"
    env = {
        **os.environ,
        **GIT_IDENTITY,
        "GT_TOWN": str(root),
        "GT_TMUX_CONF": os.devnull,
        "GT_DEMO_STEP": pf.DEMO_STEP,
    }
    gt = [sys.executable, "-m", "gastown_tui"]
    _run([*gt, "init", str(root), "--name", "private"], umask, env)
    try:
        _run([*gt, "rig", "add", "alpha", str(upstream)], umask, env)
        bead = _run([*gt, "bead", "create", "secret work", "--json"], umask, env)
        bead_id = orjson.loads(bead)["id"]
        _run([*gt, "mail", "send", "mayor", "-s", "secret", "-m", "mail"], umask, env)
        _run([*gt, "sling", bead_id, "alpha", "--agent", "demo"], umask, env)
        town = Town.open(root)
        wait_until(
            lambda: town.beads.find(bead_id) is None or town.beads.get(bead_id).is_closed,
            timeout=60,
            what="the demo agent to finish",
        )
        _run([*gt, "backup"], umask, env)
        _run([*gt, "nudge", "--queue", "alpha/furiosa", "later"], umask, env)
    finally:
        subprocess.run(
            ["tmux", "-L", Town.open(root).paths.tmux_socket, "kill-server"],
            capture_output=True,
        )
    loose: list[str] = []
    for folder, dirs, names in os.walk(root):
        for name in [*dirs, *names]:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            if path.lstat().st_nlink > 1 and "/.git/objects/" in str(path):
                # `git clone` of a local repository hard-links its (read-only) objects: the
                # same inode as the source's, so not ours to chmod; the 0700 folders above
                # keep them out of others' reach.
                continue
            if mode & 0o077:
                loose.append(f"{oct(mode & 0o777)} {path.relative_to(root)}")
    assert os.stat(root).st_mode & 0o077 == 0
    assert all(os.stat(folder).st_mode & 0o077 == 0 for folder, _, _ in os.walk(root)), (
        "every folder of the town is 0700"
    )
    assert not loose, f"{len(loose)} paths readable by others: " + "; ".join(loose[:20])
