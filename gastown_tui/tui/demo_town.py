"""Build the demo town offline: two rigs made from fresh git repositories with a little
history, a dozen beads (labels, a `needs-human` one, blocking dependencies), a convoy across
both rigs, mail for the overseer, and DEMO AGENTS already working on some beads.

No textual here: `gt demo` builds the town before the app starts, and the screenshots and
tests build it too. Agents are started with the real `sling()` when tmux is available.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.town.errors import GtError
from gastown_tui.town.storage.files import atomic_write_bytes
from gastown_tui.town.town import Town

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.clock import Clock

DEMO_NAME = "fury-road"
DEMO_STEP_SECONDS = 2.0
DEMO_IDENTITY = {
    "GIT_AUTHOR_NAME": "Gas Town Demo",
    "GIT_AUTHOR_EMAIL": "demo@gastown.invalid",
    "GIT_COMMITTER_NAME": "Gas Town Demo",
    "GIT_COMMITTER_EMAIL": "demo@gastown.invalid",
}

# (rig, commits): each commit is (message, {path: text}); a little history to branch from.
REPOS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "war-rig": [
        (
            "Start the war rig: a CLI that reports fuel and water",
            {
                "README.md": "# war-rig\n\nA small CLI that reports the rig's fuel and water.\n",
                "warrig/__init__.py": '"""The war rig."""\n',
            },
        ),
        (
            "Add the fuel gauge",
            {
                "warrig/fuel.py": (
                    "def gauge(litres: float, capacity: float) -> str:\n"
                    "    return f'{100 * litres / capacity:.0f}%'\n"
                ),
            },
        ),
        (
            "Add the status command",
            {
                "warrig/cli.py": (
                    "import sys\n\nfrom warrig.fuel import gauge\n\n\n"
                    "def main() -> None:\n    print('fuel', gauge(120, 200))\n\n\n"
                    "if __name__ == '__main__':\n    main()\n"
                ),
            },
        ),
        ("Document the config file", {"docs/config.md": "# Config\n\n`~/.warrig.toml`\n"}),
    ],
    "citadel": [
        (
            "The Citadel's site: first page",
            {"index.md": "# The Citadel\n\nWater for those who can reach it.\n"},
        ),
        ("Add the FAQ", {"faq.md": "# FAQ\n\n## Who controls the water?\n\nSee the council.\n"}),
        ("Add the schedule page", {"schedule.md": "# Convoy schedule\n\nTBD\n"}),
    ],
}

# (key, rig, title, type, priority, labels, blocked by keys)
BEADS: list[tuple[str, str, str, str, int, tuple[str, ...], tuple[str, ...]]] = [
    ("json", "war-rig", "Add --json output to the status command", "feature", 1, ("cli",), ()),
    ("crash", "war-rig", "Fix the crash on an empty config file", "bug", 0, ("bug",), ()),
    ("man", "war-rig", "Write a man page for warrig", "docs", 2, ("docs",), ()),
    ("cache", "war-rig", "Cache the fuel gauge readings", "task", 2, ("perf",), ("crash",)),
    ("engine", "war-rig", "Refactor the engine loop", "chore", 3, (), ("json",)),
    (
        "plugin",
        "war-rig",
        "Decide on a plugin API for guzzoline sources",
        "decision",
        1,
        ("needs-human",),
        (),
    ),
    ("links", "citadel", "Fix the broken links in the FAQ", "bug", 1, ("docs",), ()),
    ("dark", "citadel", "Add a dark mode toggle to the site", "feature", 2, ("ui",), ()),
    ("water", "citadel", "Write the water rights page", "docs", 2, ("docs",), ()),
    ("sched", "citadel", "Publish the convoy schedule", "task", 2, (), ("water",)),
    ("a11y", "citadel", "Accessibility audit of every page", "task", 3, ("a11y",), ()),
    ("i18n", "citadel", "Translate the README into Vuvalini", "docs", 4, ("docs",), ()),
    # Its DEMO AGENT crashes every time: sling it to watch the witness restart it with
    # backoff and then stop it as a crash loop.
    ("pump", "war-rig", "Stress-test the flaky fuel pump", "task", 4, ("crash",), ()),
]
CONVOY_TITLE = "Fury Road release"
CONVOY_BEADS = ("json", "links", "man")
# An `auto` convoy: the deacon slings its ready beads as polecats free up, and blocked ones
# as their blockers close, so the demo keeps moving after the first wave lands.
AUTO_CONVOY_TITLE = "Citadel backlog (auto)"
AUTO_CONVOY_BEADS = ("water", "sched", "a11y", "engine")
# Patrols run faster in the demo so supervision is visible within seconds.
DEMO_INTERVALS = {
    'witness_interval = "30s"': 'witness_interval = "10s"  # demo: faster than the 30s default',
    'deacon_interval = "60s"': 'deacon_interval = "10s"  # demo: faster than the 60s default',
}

# Slung when the demo starts: the convoy's beads, one more per rig, and the bead that makes a
# DEMO AGENT stop at a permission question (the `waiting` state).
SLING_FIRST = ("json", "man", "links", "dark", "plugin")


@dataclass
class DemoReport:
    town: Town
    bead_ids: dict[str, str] = field(default_factory=dict)
    convoy_id: str | None = None
    support_convoy: str | None = None
    slung: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _git(args: list[str], cwd: Path) -> None:
    env = {**os.environ, **DEMO_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise GtError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")


def make_repo(path: Path, commits: list[tuple[str, dict[str, str]]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    _git(["init", "-q", "-b", "main"], path)
    for message, files in commits:
        for name, text in files.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        _git(["add", "-A"], path)
        _git(["commit", "-q", "-m", message], path)
    return path


def build_demo_town(
    root: Path,
    *,
    clock: Clock | None = None,
    tmux: TownTmux | None = None,
    start_agents: bool = True,
    step_seconds: float = DEMO_STEP_SECONDS,
) -> DemoReport:
    """Create the demo town in `root` (absent or empty). With `start_agents`, sling the first
    beads to DEMO AGENTS (needs tmux and the dispatch layer; skipped with a note otherwise)."""
    root = Path(root).expanduser().absolute()
    town = Town.init(root, name=DEMO_NAME, runtime="demo", clock=clock)
    toml = town.paths.town_toml.read_text(encoding="utf-8")
    toml += (
        f"\n[demo]\n# Seconds a DEMO AGENT waits between steps.\nstep_seconds = {step_seconds}\n"
    )
    for default, faster in DEMO_INTERVALS.items():
        toml = toml.replace(default, faster)
    atomic_write_bytes(town.paths.town_toml, toml.encode())
    town.__dict__.pop("config", None)  # re-read with the [demo] table
    report = DemoReport(town)

    upstream = root / "upstream"
    for rig, commits in REPOS.items():
        repo = make_repo(upstream / rig, commits)
        town.rigs.add(rig, str(repo))

    ids = report.bead_ids
    for key, rig, title, kind, priority, labels, blocked_by in BEADS:
        bead = town.beads.create(
            title,
            rig=rig,
            type=kind,
            priority=priority,
            labels=labels,
            deps=[(ids[other], "blocks") for other in blocked_by],
            description=f"A demo bead of the {rig} rig. A DEMO AGENT works it offline.",
            actor="mayor",
        )
        ids[key] = bead.id

    convoy = town.convoys.create(CONVOY_TITLE, [ids[k] for k in CONVOY_BEADS], owner="overseer")
    report.convoy_id = convoy.id
    town.convoys.create(
        AUTO_CONVOY_TITLE, [ids[k] for k in AUTO_CONVOY_BEADS], owner="overseer", auto=True
    )

    town.mail.send(
        ["overseer"],
        "Welcome to the demo town",
        "This is a DEMO town: the agents are scripted and need no API key.\n\n"
        "s slings a bead, n nudges, a attaches, m writes mail, p shows what needs you,\n"
        "? lists every key. The convoy 'Fury Road release' lands when its beads close.\n",
        sender="mayor",
    )
    town.mail.send(
        ["overseer"],
        "ESCALATION: the plugin API needs a decision",
        "Two designs for guzzoline sources are on the table; a person has to pick one.\n"
        f"See {ids['plugin']}.\n",
        sender="war-rig/witness",
        type="escalation",
        priority="high",
    )
    town.mail.send(
        ["overseer"],
        "Deacon's report",
        "Both rigs are healthy. Two convoys in flight; the deacon feeds the auto one to\n"
        "polecats as they free up. Sling 'Stress-test the flaky fuel pump' (labelled\n"
        "`crash`) to watch the witness restart a crashing agent, back off, and stop it as\n"
        "a crash loop.\n",
        sender="deacon",
    )

    _support_desk(report, root)
    if start_agents:
        _start_agents(report, tmux)
    return report


# The essay's customer-support team beside the coding rigs: a plain-directory desk rig, a
# ticket bead, and the customer-support formula run on it. The deacon dispatches its steps to
# DEMO AGENTS of each role (gastown_tui/formulas/customer-support.toml), so the ticket moves
# from arrival to the customer's answer with no person acting.
SUPPORT_RIG = "desk"
SUPPORT_TICKET = "Customer: `warrig status` crashes on an empty config file"


SUPPORT_INTAKE = """
# The support desk's intake: an open bead labelled `ticket` on the desk rig starts the
# customer-support formula (the deacon runs it), with engineering working in war-rig.
[intake.tickets]
formula = "customer-support"
rig = "desk"
label = "ticket"
var = "ticket"
vars = { code = "war-rig" }
"""


def _support_desk(report: DemoReport, root: Path) -> None:
    from gastown_tui.town.formulas import run_intake

    town = report.town
    desk = root / "support-desk"
    desk.mkdir(parents=True, exist_ok=True)
    town.rigs.add(SUPPORT_RIG, str(desk), no_git=True)
    toml = town.paths.town_toml.read_text(encoding="utf-8")
    atomic_write_bytes(town.paths.town_toml, (toml + SUPPORT_INTAKE).encode())
    town.__dict__.pop("config", None)
    ticket = town.beads.create(
        SUPPORT_TICKET,
        rig=SUPPORT_RIG,
        type="bug",
        priority=1,
        labels=["ticket"],
        description="From the Citadel's water office: `warrig status` dies with a traceback "
        "when ~/.warrig.toml is empty. They need it working today.",
        actor="overseer",
    )
    report.bead_ids["ticket"] = ticket.id
    run_intake(town)  # what the deacon does for every new ticket
    taken = town.beads.get(ticket.id).metadata.get("intake") or {}
    report.support_convoy = taken.get("convoy")


def _start_agents(report: DemoReport, tmux: TownTmux | None) -> None:
    town = report.town
    from gastown_tui.dispatch import tmux_for
    from gastown_tui.dispatch.sling import sling_many

    tmux = tmux or tmux_for(town)
    if not tmux.available():
        report.notes.append("tmux is not installed: no agents were started (`make tmux`)")
        return
    by_rig: dict[str, list[str]] = {}
    for key, rig, *_ in BEADS:
        if key in SLING_FIRST:
            by_rig.setdefault(rig, []).append(key)
    for rig, keys in by_rig.items():
        in_convoy = [k for k in keys if k in CONVOY_BEADS]
        others = [k for k in keys if k not in CONVOY_BEADS]
        for group, convoy in ((in_convoy, report.convoy_id), (others, None)):
            if not group:
                continue
            try:
                batch = sling_many(
                    town,
                    tmux,
                    [report.bead_ids[k] for k in group],
                    rig,
                    runtime="demo",
                    convoy=convoy,
                )
            except GtError as exc:
                report.notes.append(f"could not start agents in {rig}: {exc}")
                continue
            report.slung.extend(f"{r.bead} -> {r.address}" for r in batch.results)
            report.notes.extend(f"{f.bead}: {f.error}" for f in batch.failures)
