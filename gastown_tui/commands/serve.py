"""gt serve: the town app in a browser (textual-serve), behind a token in the URL.

Textual and aiohttp are imported only inside the handler. Bad input (a port in use, a host
that is not an address of this machine, a short --token) is one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse

DEFAULT_PORT = 8787


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535; 0 picks a free one)")
    return value


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve",
        parents=[common],
        help="the app in a browser: prints a URL with a secret token; read-only unless --write",
    )
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 = any free"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine only; "
        "anything else is reachable from the network: it says what that exposes)",
    )
    p.add_argument(
        "--write",
        action="store_true",
        help="allow actions that change the town (sling, nudge, mail, convoys)",
    )
    p.add_argument(
        "--token",
        help="use this token (at least 16 characters) instead of a random one; "
        "$GT_SERVE_TOKEN works too",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from gastown_tui.commands.common import open_town
    from gastown_tui.town.errors import GtError

    token = args.token if args.token is not None else os.environ.get("GT_SERVE_TOKEN")
    if token is not None and not token.strip():
        raise GtError(
            "an empty token would let anyone in", hint="leave --token out for a random one"
        )
    town = open_town(args)
    town.config  # noqa: B018 - a bad town.toml is reported here, on one line
    from gastown_tui.tui.serve import serve

    return serve(town, host=args.host, port=args.port, write=args.write, token=token)
