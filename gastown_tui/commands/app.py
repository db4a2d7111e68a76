"""gt tui / gt demo: open the app (and `gt` alone opens it too).

Textual is imported only inside the handlers, through gastown_tui.tui: every other `gt`
command stays fast. A bad town, town.toml or layout name is reported on one line (exit 2)
before Textual takes the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.town.errors import GtError

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

DEFAULT_DEMO_DIR = "~/gt-demo"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tui", parents=[common], help="open the town app (what `gt` alone does)")
    _app_options(p)
    p.add_argument(
        "--tmux",
        action="store_true",
        help="run the app in the town's own tmux server: it survives an SSH drop and attaching "
        "to an agent is a switch-client",
    )
    p.set_defaults(func=cmd_tui)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="build an offline demo town (DEMO AGENTS, no API key) and open the app on it",
    )
    p.add_argument("--dir", metavar="D", help=f"where to build it (default {DEFAULT_DEMO_DIR})")
    p.add_argument("--no-open", action="store_true", help="build the town, do not open the app")
    p.add_argument("--no-agents", action="store_true", help="do not start any agent")
    _app_options(p)
    p.set_defaults(func=cmd_demo)


def _app_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-mouse", action="store_true", help="keyboard only (e.g. over SSH)")
    p.add_argument("--layout", metavar="NAME", help="default, compact (80x24), focus, …")
    p.add_argument("--theme", metavar="NAME", help="wasteland, salt-flats, high-octane, …")


def _check_terminal() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise GtError(
            "the app needs an interactive terminal",
            hint="for a text overview use `gt status`",
        )


def _check_layout(name: str | None, town: Town) -> None:
    if not name:
        return
    from gastown_tui.tui.layouts import layout_folders

    known = sorted(
        {
            p.stem
            for folder in layout_folders(town.root)
            if folder.is_dir()
            for p in folder.glob("*.tcss")
        }
    )
    if name not in known:
        raise GtError(f"unknown layout {name!r}", hint="layouts: " + ", ".join(known))


def run_app(town: Town, args: argparse.Namespace) -> int:
    """Open the app on `town` until the person quits."""
    # Validate what can be validated before Textual takes over the screen.
    town.config  # noqa: B018 - a bad town.toml raises GtError here, on one line
    _check_layout(getattr(args, "layout", None), town)
    _check_terminal()
    from gastown_tui.tui.app import make_app

    app = make_app(town, supervise=True, layout=args.layout, theme=args.theme)
    app.run(mouse=not args.no_mouse)
    return int(app.return_code or 0)


def cmd_tui(args: argparse.Namespace) -> int:
    from gastown_tui.town.town import Town

    town = Town.open(getattr(args, "town", None))
    if args.tmux:
        return _run_in_town_tmux(town, args)
    return run_app(town, args)


def _run_in_town_tmux(town: Town, args: argparse.Namespace) -> int:
    """`gt tui --tmux`: the app in window gt-hq:app of the town's server, then attach to it."""
    from gastown_tui.tmux import attach_plan, run_attach
    from gastown_tui.tmux.attach import tmux_env_socket

    town.config  # noqa: B018
    _check_layout(args.layout, town)
    _check_terminal()
    from gastown_tui.views.queries import default_tmux

    tmux = default_tmux(town)
    if tmux is None:
        raise GtError("tmux is not installed", hint="install it, or run `gt tui` without --tmux")
    inside = tmux_env_socket(os.environ)
    if inside is not None and tmux.is_running() and inside == tmux.socket_path():
        return run_app(town, args)  # already inside the town's server
    info = tmux.find_window("gt-hq", "app")
    if info is None or info.pane_dead:
        argv = [sys.executable, "-m", "gastown_tui", "tui", "--town", str(town.root)]
        for flag in ("layout", "theme"):
            if getattr(args, flag):
                argv += [f"--{flag}", getattr(args, flag)]
        if args.no_mouse:
            argv.append("--no-mouse")
        env = {"GT_TOWN": str(town.root)}
        for name in ("TERM", "COLORTERM", "TEXTUAL_COLOR_SYSTEM", "LANG", "LC_ALL"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        info = tmux.start_window("gt-hq", "app", argv, start_dir=town.root, env=env)
    # The app's session has no status line: at 80x24 (the size over SSH) it would leave the
    # app 80x23, below its minimum. Notices still show (tmux overlays them on the last line).
    tmux.run("set-option", "-t", "gt-hq", "status", "off")
    plan = attach_plan(tmux, info)
    print(plan.message, file=sys.stderr)
    return run_attach(plan)


def cmd_demo(args: argparse.Namespace) -> int:
    from gastown_tui.town.town import Town
    from gastown_tui.tui.demo_town import build_demo_town

    root = Path(args.dir or DEFAULT_DEMO_DIR).expanduser().absolute()
    if (root / "town.toml").is_file():
        town = Town.open(root)
        print(f"gt demo: opening the existing demo town at {root}", file=sys.stderr)
    else:
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise GtError(
                f"{root} exists and is not an empty folder",
                hint="pick another with --dir, or remove it",
            )
        if not args.no_open:
            _check_terminal()
        print(f"gt demo: building a demo town at {root} …", file=sys.stderr)
        report = build_demo_town(root, start_agents=not args.no_agents)
        town = report.town
        for line in report.slung:
            print(f"  slung {line}", file=sys.stderr)
        for note in report.notes:
            print(f"  note: {note}", file=sys.stderr)
    if args.no_open:
        print(str(town.root))
        return 0
    return run_app(town, args)
