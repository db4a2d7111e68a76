"""gt mayor start|attach|stop|status|tell|log: the one agent you talk to (town/mayor.py,
dispatch/mayor.py). Also the first run: `gt` on a machine without a town."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.commands.common import add_json, emit_json, open_town, read_body

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town

AGENTS = ("claude", "codex", "gemini", "builtin", "demo")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    mayor = sub.add_parser("mayor", parents=[common], help="the mayor: tell the town what you want")
    msub = mayor.add_subparsers(dest="mayor_command", metavar="ACTION", required=True)

    p = msub.add_parser("start", parents=[common], help="start the mayor (one per town)")
    p.add_argument(
        "--agent",
        dest="runtime",
        metavar="RUNTIME",
        help=f"{', '.join(AGENTS)} or a runtime of town.toml (default: the town's)",
    )
    add_json(p)
    p.set_defaults(func=cmd_start)

    p = msub.add_parser("attach", parents=[common], help="put this terminal on the mayor's window")
    p.add_argument("--yes", action="store_true", help="do not ask before nesting tmux")
    p.set_defaults(func=cmd_attach)

    p = msub.add_parser("stop", parents=[common], help="stop the mayor (it is not restarted)")
    p.set_defaults(func=cmd_stop)

    p = msub.add_parser("status", parents=[common], help="is it running, busy, its mail")
    add_json(p)
    p.set_defaults(func=cmd_status)

    p = msub.add_parser("tell", parents=[common], help="say something to the mayor (as mail)")
    p.add_argument("text", nargs="*", metavar="TEXT")
    p.add_argument("--stdin", action="store_true", help="read the text from standard input")
    add_json(p)
    p.set_defaults(func=cmd_tell)

    p = msub.add_parser("log", parents=[common], help="the conversation and what the mayor did")
    p.add_argument("-n", "--limit", type=int, default=50, help="the last N entries (default 50)")
    add_json(p)
    p.set_defaults(func=cmd_log)


def _tmux(town: Town) -> TownTmux:
    from gastown_tui.dispatch.tmuxfor import tmux_for

    return tmux_for(town)


def cmd_start(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.mayor import start

    town = open_town(args)
    what, started = start(town, _tmux(town), args.runtime)
    if args.json:
        emit_json({"started": started, "message": what})
    else:
        print(what)
        if started:
            print('talk to it: gt mayor tell "what\'s going on?"   ·   watch: gt mayor attach')
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.mayor import attach
    from gastown_tui.tmux import run_attach
    from gastown_tui.town.errors import GtError

    town = open_town(args)
    plan = attach(town, _tmux(town))
    if plan.nested and not args.yes:
        print(f"gt: {plan.message}", file=sys.stderr)
        if not sys.stdin.isatty():
            raise GtError("attaching would nest tmux", hint="pass --yes to do it anyway")
        if input("attach anyway, nesting tmux? [y/N] ").strip().lower() not in ("y", "yes"):
            print("not attached")
            return 0
    else:
        print(plan.message, file=sys.stderr)
    return run_attach(plan)


def cmd_stop(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.mayor import stop

    town = open_town(args)
    print(stop(town, _tmux(town)))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.mayor import status

    town = open_town(args)
    state = status(town, _tmux(town))
    if args.json:
        emit_json(state.to_dict())
        return 0
    if state.running:
        doing = "busy" if state.busy else "idle"
        print(f"mayor: running ({state.runtime}, {doing}) in {state.window}")
    elif state.desired == "running":
        print(f"mayor: down ({state.runtime}); the supervisor restarts it")
    else:
        why = f": {state.stopped_reason}" if state.stopped_reason else ""
        print(f"mayor: stopped{why}")
    print(f"  unread mail {state.unread} · queued nudges {state.queued_nudges}"
          f" · restarts {state.restarts}")  # fmt: skip
    if not state.running and state.desired != "running":
        print("  start it: gt mayor start [--agent claude|codex|gemini|builtin|demo]")
    return 0


def cmd_tell(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.mayor import tell
    from gastown_tui.town.errors import GtError

    if args.stdin and args.text:
        raise GtError("pass TEXT or --stdin, not both")
    text = read_body(None, True) if args.stdin else " ".join(args.text)
    if not (text or "").strip():
        raise GtError("nothing to tell the mayor: the text is empty", hint='gt mayor tell "TEXT"')
    town = open_town(args)
    told = tell(town, _tmux(town), text or "")
    if args.json:
        emit_json({"message": told.message.id, "delivery": told.delivery, "notice": told.notice})
    else:
        print(told.notice)
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from gastown_tui.town.errors import GtError
    from gastown_tui.town.mayor import conversation

    if args.limit < 1:
        raise GtError("-n must be at least 1")
    town = open_town(args)
    entries = conversation(town, args.limit)
    if args.json:
        emit_json([e.__dict__ for e in entries])
        return 0
    if not entries:
        print('no conversation yet: gt mayor tell "what\'s going on?"')
        return 0
    label = {"you": "you", "mayor": "mayor", "did": "  did", "notice": " mail"}
    for entry in entries:
        lines = entry.text.splitlines() or [""]
        print(f"{entry.ts[11:19]} {label[entry.who]:>5}: {lines[0]}")
        for line in lines[1:]:
            print(f"{'':15}{line}")
    return 0


# -- first run ------------------------------------------------------------------------------------
def first_run(town_arg: str | None) -> int | None:
    """`gt` alone where no town is: offer to make one and start the mayor. None when a town
    exists (the app opens as usual)."""
    from gastown_tui.town.paths import default_town_root

    root = default_town_root(town_arg)
    if (root / "town.toml").is_file() or (root.exists() and any(root.iterdir())):
        return None  # a town, or a folder of something else: the app says which
    try:
        return _first_run(root, town_arg)
    except (EOFError, KeyboardInterrupt):
        print("\nnothing more made", file=sys.stderr)
        return 130
    except Exception as exc:  # cli.main's handlers are not around this: one line, never a trace
        from gastown_tui.town.display import safe
        from gastown_tui.town.errors import GtError

        print(f"gt: error: {safe(exc)}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, GtError) else 1


def _first_run(root: Path, town_arg: str | None) -> int | None:
    runtime = _suggested_runtime()
    where = "" if town_arg is None and not os.environ.get("GT_TOWN") else f" {root}"
    repo = _this_repo()
    steps = [f"gt init{where} --runtime {runtime}"]
    if repo is not None:
        steps.append(f"gt rig add {repo[0]} {repo[1]}")
    steps += [f"gt mayor start --agent {runtime}", "gt"]
    if not sys.stdin.isatty():
        # No one to ask: one line naming what is missing and what to run (exit 2).
        demo = " (demo: offline and scripted, no API key)" if runtime == "demo" else ""
        print(
            f"gt: error: {root} is not a town yet; make one and start the mayor{demo}: "
            + " && ".join(steps),
            file=sys.stderr,
        )
        return 2
    print(f"Welcome to Gas Town. There is no town at {root} yet.")
    print("A town runs AI agents in tmux; the mayor is the one you talk to.")
    if not _yes(f"Make a town at {root} and start the mayor ({runtime})?"):
        print("Nothing made. Later: " + " && ".join(steps))
        return 0
    from gastown_tui.dispatch.mayor import start
    from gastown_tui.town.town import Town

    town = Town.init(Path(root), runtime=runtime)
    print(f"town made at {root}")
    if repo is not None and _yes(f"Add this repository ({repo[1]}) as rig {repo[0]!r}?"):
        from gastown_tui.town.errors import GtError

        try:
            town.rigs.add(repo[0], str(repo[1]))
            print(f"rig {repo[0]} added")
        except GtError as exc:
            print(f"rig not added: {exc} (later: gt rig add NAME PATH)")
    print(start(town, _tmux(town), runtime)[0])
    print('Say what you want in the Mayor pane, or: gt mayor tell "what\'s going on?"')
    return None  # go on into the app


def _yes(question: str) -> bool:
    return input(f"{question} [Y/n] ").strip().lower() in ("", "y", "yes")


def _this_repo() -> tuple[str, Path] | None:
    """(a rig name, the folder) of the git repository this shell is in, if any."""
    import re
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    top = Path(proc.stdout.strip())
    name = re.sub(r"[^a-z0-9-]+", "-", top.name.lower()).strip("-")[:32] or "project"
    if not name[0].isalpha():
        name = f"r-{name}"[:32]
    return name, top


def _suggested_runtime() -> str:
    import shutil

    if shutil.which("claude") and os.geteuid() != 0:
        return "claude"
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        return "builtin"
    return "demo"
