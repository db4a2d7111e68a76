"""The calls agents make all day stay cheap: what a hot `gt` command imports (issue 12).

Each command runs in its own interpreter, as an agent's call does, and reports the modules it
loaded. The app's libraries (textual, anthropic, libtmux, watchfiles) must never be among them;
nor what the work to make these calls cheap took off their path (bench/bench_cli.py times them):
orjson on small towns (town/jsoncodec.py), subprocess and dataclasses where no git or record
class is needed, shutil (argparse's terminal width, cli.py), concurrent.futures for one sling,
hashlib for the tmux socket name (town/paths.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gastown_tui.commands.quick import REQUIRED, SPECS, parse
from gastown_tui.town.town import Town
from tests.polecat_fixtures import hook_without_window

ROOT = Path(__file__).resolve().parent.parent
NEVER = {"textual", "anthropic", "libtmux", "watchfiles"}

# Runs `gt` in-process, then writes the names of the loaded modules (json is imported after).
PROBE = """
import sys
from gastown_tui.cli import main
code = main(sys.argv[2:])
modules = sorted(sys.modules)
import json
with open(sys.argv[1], "w") as handle:
    json.dump({"code": code, "modules": modules}, handle)
"""


def loaded(town: Town, tmp_path: Path, *args: str, agent: str | None = None) -> set[str]:
    report = tmp_path / "modules.json"
    env = {**os.environ, "GT_TOWN": str(town.root), "GT_TMUX_CONF": os.devnull}
    env.pop("GT_AGENT", None)
    if agent is not None:
        env["GT_AGENT"] = agent
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert report.exists(), proc.stderr
    result = json.loads(report.read_text())
    return {name.split(".")[0] for name in result["modules"]} | set(result["modules"])


@pytest.fixture
def agent(rig_town: Town) -> str:
    bead = rig_town.beads.create("Fix the carburettor", rig="alpha")
    return hook_without_window(rig_town, bead.id)


# What the cheap commands were freed of (issue 12): argparse (commands/quick.py reads their
# lines), typing (TYPE_CHECKING-only imports across town/), datetime (town/clock.py iso),
# storage/base.py's protocols (storage/changed.py), the whole TownConfig for prime
# (Town.name), town/mayor.py for mail to the mayor (dispatch/__init__.py).
LEAN = {"argparse", "typing", "datetime", "gastown_tui.town.storage.base", "dataclasses"}
NO_STORE_LIBS = {"orjson", "subprocess", "shutil", "tinydb", "hashlib"}


@pytest.mark.parametrize(
    ("args", "also_never"),
    [
        (
            ("prime",),
            NO_STORE_LIBS
            | {
                "argparse",
                "dataclasses",
                "gastown_tui.town.config",
                "gastown_tui.town.storage.base",
            },
        ),
        (("hook",), NO_STORE_LIBS | LEAN | {"tomllib", "threading", "gastown_tui.town.mail"}),
        (("hook", "--json"), NO_STORE_LIBS | LEAN | {"gastown_tui.town.mail"}),
        (
            ("bead", "create", "Grease the axle", "--rig", "alpha"),
            NO_STORE_LIBS | LEAN | {"tomllib"},
        ),
        (
            ("mail", "send", "alpha/witness", "-s", "stuck", "-m", "the axle squeaks"),
            NO_STORE_LIBS | LEAN | {"tomllib"},
        ),
        (
            ("mail", "send", "mayor", "-s", "stuck", "-m", "the axle squeaks"),
            NO_STORE_LIBS | LEAN | {"tomllib", "gastown_tui.town.mayor"},
        ),
        (("nudge", "alpha/nobody", "hi"), {"orjson", "hashlib", "concurrent", "argparse"}),
        (("sling", "al-nosuch", "alpha"), {"orjson", "hashlib", "concurrent", "argparse"}),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_hot_commands_import_only_what_they_need(
    rig_town: Town, agent: str, tmp_path: Path, args: tuple[str, ...], also_never: set[str]
) -> None:
    modules = loaded(rig_town, tmp_path, *args, agent=agent)
    assert "gastown_tui.cli" in modules  # the probe really ran the command
    assert not modules & (NEVER | also_never), sorted(modules & (NEVER | also_never))


def test_done_imports_no_app_library(rig_town: Town, agent: str, tmp_path: Path) -> None:
    modules = loaded(rig_town, tmp_path, "done", "-m", "fixed", agent=agent)
    assert "gastown_tui.town.work" in modules
    assert not modules & (NEVER | {"hashlib", "concurrent"}), sorted(modules & NEVER)


def test_one_command_builds_only_its_own_parser(rig_town: Town, tmp_path: Path) -> None:
    """`gt prime` builds prime's parser, not sling's or nudge's (same module)."""
    from gastown_tui.cli import build_parser

    parser = build_parser(["polecats"], "prime")
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"prime"}  # type: ignore[arg-type]
    everything = build_parser(["polecats"])
    sub = next(a for a in everything._actions if a.dest == "command")
    assert {"prime", "sling", "nudge", "polecat", "hook", "done"} <= set(sub.choices)  # type: ignore[arg-type]


# -- commands/quick.py: the hot lines read without argparse, exactly as argparse reads them --
def _subparser(words: tuple[str, ...]) -> Any:
    import argparse

    from gastown_tui.cli import COMMANDS, build_parser

    parser = build_parser([COMMANDS[words[0]]], words[0])
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


@pytest.mark.parametrize("words", sorted(SPECS), ids=" ".join)
def test_each_quick_spec_mirrors_its_argparse_parser(words: tuple[str, ...]) -> None:
    """Every option and positional argparse knows, with its dest, kind, choices and
    default: a new option added to `register` and not here fails this test."""
    import argparse

    spec = SPECS[words]
    parser = _subparser(words)
    options: dict[str, tuple[str, str, Any]] = {}
    positionals: list[tuple[str, str]] = []
    defaults: dict[str, Any] = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in ("town", "debug"):
            continue
        if action.option_strings:
            kind = {
                argparse._StoreTrueAction: "flag",
                argparse._AppendAction: "append",
                argparse._StoreAction: "value",
            }[type(action)]
            assert action.type is None and action.nargs in (None, 0), action
            choices = tuple(action.choices) if action.choices is not None else None
            for option in action.option_strings:
                options[option] = (action.dest, kind, choices)
        else:
            positionals.append((action.dest, {None: "1", "?": "?", "+": "+"}[action.nargs]))
        if action.default is not argparse.SUPPRESS and (
            action.option_strings or action.nargs == "?"
        ):
            defaults[action.dest] = action.default
    assert spec.options == options
    assert spec.positionals == tuple(positionals)
    assert spec.defaults == defaults
    required = tuple(a.dest for a in parser._actions if a.option_strings and a.required)
    assert REQUIRED.get(words, ()) == required
    assert spec.func == parser.get_default("func").__name__
    assert spec.intermixed == hasattr(parser, "_intermixing")


def _lines(spec: Any) -> list[list[str]]:
    """Many lines for one command: good ones in every order, and broken ones."""
    words = list(spec.words)
    positional_sets: list[list[str]] = [[]]
    for _dest, nargs in spec.positionals:
        grown = []
        for have in positional_sets:
            counts = {"1": [1], "?": [0, 1], "+": [1, 2]}[nargs]
            grown += [have + [f"p{len(have) + k}" for k in range(n)] for n in counts]
        positional_sets = grown
    positional_sets += [[*p, "extra"] for p in positional_sets[:1]]
    option_sets: list[list[str]] = [[]]
    for option, (_dest, kind, choices) in spec.options.items():
        value = choices[-1] if choices else f"v-{option.strip('-')}"
        if kind == "flag":
            option_sets.append([option])
        elif kind == "append":
            option_sets.append([option, value, option, value + "2"])
        else:
            option_sets += [[option, value], [option, "nope"] if choices else [option]]
            option_sets.append([option, value, option, value + "b"])
    everything = [t for o in option_sets for t in o if t != "nope"]
    lines: list[list[str]] = []
    for positional in positional_sets:
        for options in [*option_sets, everything]:
            lines += [
                words + positional + options,
                words + options + positional,
                words + positional[:1] + options + positional[1:],
                ["--town", "T", *words, *options, "--debug", *positional],
                [*words, "--town", "A", *positional, *options, "--town", "B"],
            ]
    lines += [
        [*words, "-h"],
        [*words, "--help"],
        [*words, "--"],
        [*words, ""],
        [*words, "-x"],
        [*words, "--jso"],
        [*words, "--json=1"],
        [*words, "p1", "-5"],
        [*words, "p1", "-"],
    ]
    return lines


@pytest.mark.parametrize("words", sorted(SPECS), ids=" ".join)
def test_quick_reads_a_line_as_argparse_does_or_leaves_it_to_argparse(
    words: tuple[str, ...],
) -> None:
    from gastown_tui.cli import COMMANDS, build_parser
    from gastown_tui.commands.argparsing import UsageError

    parser = build_parser([COMMANDS[words[0]]], words[0])
    read = 0
    for line in _lines(SPECS[words]):
        quick = parse(line)
        try:
            expected = vars(parser.parse_args(line))
        except (UsageError, SystemExit):
            assert quick is None, line
            continue
        if quick is None:
            continue  # argparse reads it (an empty argument, …): correct, just not quick
        namespace, spec = quick
        assert expected.pop("func").__name__ == spec.func, line
        assert vars(namespace) == expected, line
        read += 1
    assert read >= 10  # the fast path really reads the ordinary lines


@pytest.mark.parametrize(
    "line",
    [
        ["prime"],
        ["hook"],
        ["hook", "--json"],
        ["done", "-m", "fixed the axle"],
        ["nudge", "alpha/nux", "look at your mail"],
        ["nudge", "alpha/nux", "--queue", "look at your mail"],
        ["sling", "al-abc12", "alpha", "--agent", "claude"],
        ["mail", "send", "alpha/witness", "-s", "stuck", "-m", "the axle squeaks"],
        ["bead", "create", "Grease the axle", "--rig", "alpha", "-p", "1"],
    ],
    ids=" ".join,
)
def test_the_lines_agents_type_are_read_quickly(line: list[str]) -> None:
    assert parse(line) is not None


# -- what the import trimming rewrote, checked against what it replaced --------------------
def test_iso_without_datetime_writes_what_datetime_wrote() -> None:
    import random
    from datetime import UTC, datetime

    from gastown_tui.town.clock import iso

    def with_datetime(ts: float) -> str:
        dt = datetime.fromtimestamp(ts, UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

    rng = random.Random(12)
    stamps = [0.0, 1.0, 0.9995, 0.9999995, 1_795_000_000.0, 1_795_000_000.9999996]
    stamps += [rng.uniform(0, 4e9) for _ in range(20_000)]
    stamps += [rng.randint(0, 4 * 10**9) + (rng.randint(0, 999) + 0.5) / 1000 for _ in range(5_000)]
    assert [iso(ts) for ts in stamps] == [with_datetime(ts) for ts in stamps]


def test_display_escapes_what_its_patterns_always_escaped() -> None:
    """town/display.py now tells clean text by isprintable and compiles on first need."""
    import random
    import re

    from gastown_tui.town import display

    one_line = re.compile(f"[\t\n{display._UNSAFE_CLASS}]")
    text = re.compile(f"[{display._UNSAFE_CLASS}]")
    odd = [0x61C, 0x200B, 0x200E, 0x2028, 0x2029, 0x202E, 0x2066, 0xA0, 0x3000, 0xFEFF, 0xE000]
    odd += [0x10FFFF, 0xD800, 0x1F600, 0x301]
    alphabet = [chr(c) for c in [*range(0x250), *odd]]
    rng = random.Random(7)
    for _ in range(20_000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        for multiline, pattern in ((False, one_line), (True, text)):
            expected = pattern.sub(display._visible, value)
            assert display.safe(value, multiline=multiline) == expected, repr(value)
            match = pattern.search(value)
            first = None if match is None else display._visible(match)
            assert display.first_unsafe(value, multiline=multiline) == first, repr(value)
    assert display.UNSAFE_ONE_LINE.pattern == one_line.pattern
    assert display.UNSAFE_TEXT.pattern == text.pattern
