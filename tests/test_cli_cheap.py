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

import pytest

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


@pytest.mark.parametrize(
    ("args", "also_never"),
    [
        (("prime",), {"orjson", "subprocess", "shutil", "tinydb", "hashlib"}),
        (
            ("hook",),
            {"orjson", "subprocess", "shutil", "tinydb", "tomllib", "hashlib", "dataclasses"},
        ),
        (("hook", "--json"), {"orjson", "subprocess", "shutil", "tinydb", "dataclasses"}),
        (
            ("bead", "create", "Grease the axle", "--rig", "alpha"),
            {"orjson", "subprocess", "shutil", "tinydb", "tomllib", "dataclasses"},
        ),
        (
            ("mail", "send", "alpha/witness", "-s", "stuck", "-m", "the axle squeaks"),
            {"orjson", "subprocess", "shutil", "tinydb", "tomllib", "dataclasses"},
        ),
        (("nudge", "alpha/nobody", "hi"), {"orjson", "hashlib", "concurrent"}),
        (("sling", "al-nosuch", "alpha"), {"orjson", "hashlib", "concurrent"}),
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
