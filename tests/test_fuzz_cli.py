"""Every `gt` subcommand (enumerated from the parser) against hostile input.

Each case fills one argument slot (a positional or an option's value, or stdin) with a hostile
string and the command's other required slots with valid values, then runs the command
in-process through `gastown_tui.cli.main` (a handful also as real processes). Every case must
end with the command's error code (2 for bad input; 1 where the command documents a failure
that is not bad input), exactly one line on stderr, no traceback, no terminal control bytes
in the output, and the town's files exactly as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from gastown_tui.cli import build_parser, main
from gastown_tui.town.town import Town
from tests.conftest import ROOT

# Commands that take over the terminal, run forever or supervise: not fuzzed here (the app has
# its own tests; `daemon --once` and `up`/`down` start supervisors in tmux; `serve` serves
# until stopped).
SKIPPED = {"tui", "demo", "attach", "daemon", "up", "down", "serve"}
# Option values that never reach the town (flags of output shape) or that start long runs.
SKIPPED_OPTIONS = {"interval", "follow"}

# Invalid as any name, id, address, title or subject.
HOSTILE = {
    "empty": "",
    "blank": "   ",
    "newline": "a\nb",
    "osc": "\x1b]0;pwned\x07",
    "csi": "\x1b[2J",
    "c1": "x\x9b2Jy",
    "del": "x\x7fy",
    "bidi": "abc\u202eevil",
    "isolate": "a\u2066b",
    "not-utf8": "caf\udce9",  # what Python makes of the argv bytes b"caf\xe9"
}
# Invalid as a name, id or address (fine as free text, e.g. a title "../x").
HOSTILE_IDS = {
    "traversal": "../../../etc/passwd",
    "id-traversal": "zz-../../pwned",
    "unknown-id": "al-zzzzz",
    "wrong-rig": "be-zzzzz",
    "wrong-rig-address": "nowhere/furiosa",
    "address-traversal": "alpha/../mayor",
}
# Destinations that hold free text (a title, a message) or free words (labels): only HOSTILE
# goes there; "../x" is a fine title.
FREE_TEXT = {
    "title",
    "text",
    "message",
    "subject",
    "body",
    "description",
    "note",
    "reason",
    "add_label",
    "remove_label",
    "labels",
    "assignee",  # a free name in bd (a person, `gastown/polecats/x`)
}
# Multi-line text that may also be empty (a body, a description, a close reason): newlines
# and "" are valid there, terminal controls are not.
MULTILINE = {"body", "description", "text", "note", "reason"}
VALID_MULTILINE = {"empty", "blank", "newline"}
# Paths of the file system (init DIR, export DIR, import PATH, rig add SOURCE): any name is
# a valid path, and init/export create it outside the town by design. Only "" is refused
# here; hostile files have their own cases below.
PATHS = {("init", "dir"), ("bead", "dir"), ("bead", "path"), ("rig", "source")}
# Filters of read-only listings: a value that matches nothing lists nothing and says so
# (exit 0, one line); nothing changes.
# (`trail --rig` too: events of a removed rig stay in the trail.)
FILTERS = {("bead", "assignee"), ("trail", "actor"), ("trail", "types"), ("trail", "rig")}
CONTROL_BYTES = ("\x1b", "\x07", "\x9b", "\x7f", "\u202e", "\u2066", "\x00")
# Commands whose documented exit for a valid request that fails (no window, no tmux) is 1.
FAILS_WITH_1 = {"nudge", "peek"}


@dataclass
class Slot:
    dest: str
    option: str | None  # None: positional
    nargs: object
    required: bool


def _commands() -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
    def walk(
        parser: argparse.ArgumentParser, path: list[str]
    ) -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, parser
            return
        for name, sub in subs[0].choices.items():
            yield from walk(sub, [*path, name])

    yield from walk(build_parser(), [])


def _slots(parser: argparse.ArgumentParser) -> list[Slot]:
    out: list[Slot] = []
    for action in parser._actions:
        if action.dest in ("help", "town", "debug") or action.dest in SKIPPED_OPTIONS:
            continue
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            continue
        option = action.option_strings[0] if action.option_strings else None
        required = action.required if option else action.nargs not in ("?", "*")
        out.append(Slot(action.dest, option, action.nargs, bool(required)))
    return out


@dataclass
class Fixture:
    town: Town
    bead: str
    other_bead: str
    message: str
    convoy: str
    import_file: Path
    export_dir: Path
    source: Path


def _valid(fx: Fixture, path: list[str], dest: str) -> str:
    """A valid value for a required slot, so the hostile slot is what gets refused."""
    word = path[0]
    if dest in ("id", "ids"):
        if word == "mail":
            return fx.message
        if word == "convoy":
            return fx.convoy
        return fx.bead
    return {
        "title": "a fine title",
        "text": "a fine comment",
        "on": fx.other_bead,
        "path": str(fx.import_file),
        "dir": str(fx.export_dir),
        "items": fx.bead,
        "agent": "alpha/furiosa",
        "message": "a fine message",
        "to": "mayor",
        "subject": "a fine subject",
        "address": "mayor",
        "beads": fx.bead,
        "name": "newrig",
        "source": str(fx.source),
    }.get(dest, "x")


def _argv(fx: Fixture, path: list[str], slots: list[Slot], target: Slot, value: str) -> list[str]:
    argv = list(path)
    options: list[str] = []
    for slot in slots:
        if slot is target:
            text = value
        elif slot.required:
            text = _valid(fx, path, slot.dest)
        else:
            continue
        if slot.option:
            options += [slot.option, text]
        else:
            argv.append(text)
    # Positionals first, then `--` would hide options: options go before the positionals.
    return [*path, *options, *argv[len(path) :]] if options else argv


def town_hash(root: Path) -> str:
    """Every file and folder of the town (lock files and heartbeats aside)."""
    digest = hashlib.sha256()
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root).as_posix()
        if rel.startswith((".runtime/locks/", ".runtime/heartbeats/")):
            continue
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        if item.is_file():
            digest.update(item.read_bytes())
    return digest.hexdigest()


class _Kept(io.BytesIO):
    """A buffer that outlives its text wrapper (which closes what it wraps when collected)."""

    def close(self) -> None:
        pass


def run_in_process(argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    out, err = _Kept(), _Kept()
    streams = (sys.stdin, sys.stdout, sys.stderr)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    try:
        code = main(argv)
    except SystemExit as exc:  # pragma: no cover - main returns codes itself
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdin, sys.stdout, sys.stderr = streams
    return (
        code,
        out.getvalue().decode("utf-8", "replace"),
        err.getvalue().decode("utf-8", "replace"),
    )


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fixture:
    town = Town.init(tmp_path / "town", name="fuzztown")
    for rig, prefix in (("alpha", "al"), ("beta", "be")):
        folder = tmp_path / rig
        folder.mkdir()
        town.rigs.add(rig, str(folder), prefix=prefix, no_git=True)
    with town.beads.rig_txn("alpha") as tx:
        tx.put_polecat({"name": "furiosa", "rig": "alpha", "state": "idle", "runtime": "demo"})
    bead = town.beads.create("first", rig="alpha")
    other = town.beads.create("second", rig="alpha")
    message = town.mail.send(["mayor"], "hello", "body", sender="overseer")[0]
    convoy = town.convoys.create("a convoy", [bead.id])
    import_file = tmp_path / "issues.jsonl"
    import_file.write_bytes(orjson.dumps({"id": "zz-fine1", "title": "fine"}) + b"\n")
    source = tmp_path / "source"
    source.mkdir()
    monkeypatch.setenv("GT_TOWN", str(town.root))
    monkeypatch.setenv("GT_TMUX_CONF", os.devnull)
    monkeypatch.chdir(tmp_path)
    return Fixture(
        town, bead.id, other.id, message.id, convoy.id, import_file, tmp_path / "out", source
    )


def _cases(fx: Fixture) -> Iterator[tuple[str, list[str], bytes, bool]]:
    """(label, argv, stdin, is_filter) for every command, slot and hostile value."""
    for path, parser in _commands():
        if path[0] in SKIPPED:
            continue
        slots = _slots(parser)
        for slot in slots:
            values = dict(HOSTILE)
            if slot.dest not in FREE_TEXT:
                values.update(HOSTILE_IDS)
            if slot.dest in MULTILINE:
                values = {k: v for k, v in values.items() if k not in VALID_MULTILINE}
            if (path[0], slot.dest) in PATHS:
                values = {"empty": ""}
            for name, value in values.items():
                label = f"{' '.join(path)} {slot.option or slot.dest}={name}"
                argv = _argv(fx, path, slots, slot, value)
                yield label, argv, b"", (path[0], slot.dest) in FILTERS
        if any(a.dest == "stdin" for a in parser._actions):
            base = [s for s in slots if s.required and s.dest not in FREE_TEXT | {"subject"}]
            argv = [*path, "--stdin"]
            for slot in slots:
                if slot.required and slot.option:
                    argv += [slot.option, _valid(fx, path, slot.dest)]
            argv += [_valid(fx, path, s.dest) for s in base if not s.option]
            for name, data in (
                ("1mb", b"x" * 1_000_001),
                ("1mb-osc", b"\x1b]0;pwned\x07" * 100_000),
                ("nul", b"text\x00more"),
                ("esc", b"fine\n\x1b[2J\n"),
                ("bidi", "a\u202eb".encode()),
                ("not-utf8", b"caf\xe9"),
            ):
                yield f"{' '.join(path)} --stdin={name}", argv, data, False
    # Files holding NUL and hostile ids for the commands that read files.
    yield (
        "bead import nul-file",
        ["bead", "import", str(_write(fx, "nul.jsonl", b"\x00\n"))],
        b"",
        False,
    )
    bad = orjson.dumps({"id": "zz-../../x", "title": "t\x1b]0;x\x07"}) + b"\n"
    yield (
        "bead import hostile-rows",
        ["bead", "import", str(_write(fx, "bad.jsonl", bad))],
        b"",
        False,
    )


def _write(fx: Fixture, name: str, data: bytes) -> Path:
    path = fx.town.root.parent / name
    path.write_bytes(data)
    return path


def _check(
    label: str, code: int, out: str, err: str, word: str, filter_: bool = False
) -> list[str]:
    problems: list[str] = []
    allowed = {2, 1} if word in FAILS_WITH_1 else {2}
    if filter_:
        allowed = allowed | {0}
    if code not in allowed:
        problems.append(f"exit {code}")
    lines = err.strip("\n").split("\n") if err.strip() else []
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    if "Traceback" in err or "internal error" in err:
        problems.append("internal error")
    if any(ch in out + err for ch in CONTROL_BYTES):
        problems.append("control bytes in the output")
    return [f"{label}: {p}: {err.strip()[:160]!r}" for p in problems]


def test_every_subcommand_refuses_hostile_input_in_one_line(fx: Fixture) -> None:
    root = fx.town.root
    before = town_hash(root)
    failures: list[str] = []
    count = 0
    for label, argv, stdin, filter_ in _cases(fx):
        count += 1
        code, out, err = run_in_process(argv, stdin)
        failures += _check(label, code, out, err, argv[0], filter_)
        after = town_hash(root)
        if after != before:
            failures.append(f"{label}: the town's files changed")
            before = after
    print(f"\nfuzz: {count} in-process cases, {len(failures)} failures")
    assert count > 500
    assert not failures, f"{len(failures)} of {count} cases:\n" + "\n".join(failures[:2000])


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        (["bead", "create", "\x1b]0;pwned\x07"], b""),
        (["mail", "send", "mayor", "-s", "ok", "--stdin"], b"body\x00nul"),
        (["mail", "send", "mayor", "-s", "ok", "--stdin"], b"y" * 1_000_001),
        (["bead", "show", "zz-../../../etc/passwd"], b""),
        (["sling", "be-zzzzz", "alpha"], b""),
        (["bead", "list", "--bogus"], b""),
        (["bead", "create", b"caf\xe9".decode("utf-8", "surrogateescape")], b""),
    ],
    ids=["osc-title", "nul-body", "1mb-body", "traversal-id", "wrong-rig", "usage", "not-utf8"],
)
def test_hostile_input_as_a_real_process(fx: Fixture, argv: list[str], stdin: bytes) -> None:
    before = town_hash(fx.town.root)
    proc = subprocess.run(
        [sys.executable, "-m", "gastown_tui", *argv],
        input=stdin,
        capture_output=True,
        env={**os.environ, "GT_TOWN": str(fx.town.root)},
        cwd=ROOT,
        timeout=60,
    )
    err = proc.stderr.decode("utf-8", "replace")
    assert _check(" ".join(argv), proc.returncode, proc.stdout.decode(), err, argv[0]) == []
    assert town_hash(fx.town.root) == before
