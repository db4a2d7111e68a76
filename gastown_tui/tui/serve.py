"""`gt serve`: the app in a browser, through textual-serve.

textual-serve (pinned in pyproject.toml) runs one app process per browser connection under
Textual's web driver and relays its terminal over a websocket. On top of it:

- a random token in the printed URL: a request without it (the page, the websocket, the
  static files) gets 403. The page sets it as a SameSite=Strict, HttpOnly cookie so the
  page's own websocket and scripts carry it, and the websocket also checks the Origin;
- read-only unless `--write`: `ServedApp` refuses every action that changes the town with a
  notice, and `ReadOnlyTownData` refuses the writes underneath (a dialog reached another way
  still cannot sling);
- attach is unavailable (a browser has no terminal to hand over): the app says how to attach
  from a shell instead.

The browser-side app processes are viewers: supervision stays with `gt`, `gt daemon`/`gt up`.
"""

from __future__ import annotations

import argparse
import errno
import hmac
import ipaddress
import os
import secrets
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town.errors import GtError
from gastown_tui.tui.app import GasTownApp
from gastown_tui.views.actions import TownData

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

# Cookies are not kept apart by port: one name per port, so two `gt serve` coexist.
COOKIE = "gt_serve_token_{port}"
MIN_TOKEN = 16
# Actions that change the town; the read-only app refuses them (see ServedApp).
WRITE_ACTIONS = {
    "sling": "sling work",
    "nudge": "nudge or answer an agent",
    "compose": "send mail",
    "reply": "reply to mail",
    "new_convoy": "create a convoy",
}
READ_ONLY_HINT = "this browser view is read-only: restart it with `gt serve --write` to act"


# TownData's methods that only read: everything else it has must be refused below
# (tests/test_serve.py fails when a new TownData method is in neither list).
READ_METHODS = frozenset(
    {
        "addresses", "attach_plan", "bead", "capture", "convoy_status",
        "feed_poll", "feed_start", "find_pane", "is_demo", "load_convoys", "load_mail",
        "load_polecats", "load_rigs", "name", "observed_live", "open_convoys", "run_attach",
        "runtimes",
    }
)  # fmt: skip


class ReadOnlyTownData(TownData):
    """The town adapter with every write refused (the floor under ServedApp's gate)."""

    def _refuse(self, what: str) -> GtError:
        return GtError(f"cannot {what}: {READ_ONLY_HINT}")

    def sling(self, *args: Any, **kwargs: Any) -> str:
        raise self._refuse("sling work")

    def nudge(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse("nudge an agent")

    def answer(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse("answer an agent")

    def send_mail(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise self._refuse("send mail")

    def reply(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise self._refuse("reply to mail")

    def create_convoy(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse("create a convoy")

    def mark_read(self, message_id: str, address: str) -> None:
        """A viewer reads without marking: the overseer's unread mail stays unread."""


class ServedApp(GasTownApp):
    """The app as a browser shows it: attach is impossible, writes only with `--write`."""

    def __init__(self, *args: Any, read_only: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_only = read_only
        self.title = f"Gas Town (browser{', read-only' if read_only else ''})"

    def start(self) -> None:
        super().start()
        if self.read_only:
            text = "Browser view, read-only: you can look, not act (`gt serve --write` allows it)."
        else:
            text = "Browser view, read-write: sling, nudge and mail change the town."
        self.notify(text, title="gt serve", timeout=8)

    def _refused(self, action: str) -> bool:
        # The one gate for every action that changes the town (key, palette, dialog button).
        if not self.read_only or action not in WRITE_ACTIONS:
            return False
        self.notify(
            f"Read-only: cannot {WRITE_ACTIONS[action]} here. Restart with `gt serve --write` "
            "to allow changes.",
            title="read-only",
            severity="warning",
            timeout=8,
        )
        return True

    def action_sling(self, bead: str = "") -> None:
        if not self._refused("sling"):
            super().action_sling(bead)

    def action_nudge(self, address: str = "") -> None:
        if not self._refused("nudge"):
            super().action_nudge(address)

    def action_compose(self, to: str = "") -> None:
        if not self._refused("compose"):
            super().action_compose(to)

    def action_reply(self, message_id: str = "") -> None:
        if not self._refused("reply"):
            super().action_reply(message_id)

    def action_new_convoy(self) -> None:
        if not self._refused("new_convoy"):
            super().action_new_convoy()

    def action_attach(self, address: str = "") -> None:
        polecat = self.polecat(address) if address else self.selected_polecat()
        target = polecat.address if polecat is not None else "RIG/POLECAT"
        self.notify(
            "Attach is unavailable in a browser (there is no terminal to hand over). "
            f"From a shell on the town's machine: gt attach {target}  (or watch it in Preview)",
            title="attach",
            severity="warning",
            timeout=10,
        )


def make_served_app(town: Town, *, read_only: bool) -> ServedApp:
    from gastown_tui.compose import wire
    from gastown_tui.views.queries import default_tmux, preload

    preload()
    tmux = default_tmux(town)
    data = (ReadOnlyTownData if read_only else TownData)(town, tmux)
    wire(town)  # as every entry point (gastown_tui/compose.py); a read-only view sends nothing
    return ServedApp(town, data, supervise=False, read_only=read_only)


def app_command(town: Town, *, write: bool) -> str:
    """The shell command textual-serve runs for each browser connection."""
    argv = [sys.executable, "-m", "gastown_tui.tui.serve", "--town", str(town.root)]
    if write:
        argv.append("--write")
    return shlex.join(argv)


# -- the web server ----------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int, write: bool) -> str | None:
    """What binding to a non-loopback `host` exposes, or None for loopback."""
    if is_loopback(host):
        return None
    reach = "every network interface" if host in ("0.0.0.0", "::", "") else f"address {host}"
    power = "see the town and ACT in it (sling, nudge, mail)" if write else "see the town"
    return (
        f"gt serve: warning: listening on {reach}, port {port}: anyone who can reach this "
        f"machine and has the URL can {power}. The traffic is plain HTTP: the token in the URL "
        "can be read on the network. Prefer the default 127.0.0.1 with an SSH tunnel "
        f"(ssh -L {port}:127.0.0.1:{port} HOST)."
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """Listen on host:port now, so a bad host or a port in use is a one-line error (exit 2)
    before anything else starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise GtError(
            f"invalid --host {host!r}: {getattr(exc, 'strerror', None) or exc}",
            hint="give an address of this machine, e.g. 127.0.0.1",
        ) from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise GtError(
                f"port {port} is in use on {host}", hint="pick another with --port N"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise GtError(
                f"not allowed to listen on port {port}", hint="use a port above 1023"
            ) from None
        raise GtError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="give an address of this machine with --host",
        ) from None
    sock.setblocking(False)
    return sock


def public_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return socket.getfqdn() or "localhost"
    if ":" in host:
        return f"[{host}]"
    return host


def make_server(command: str, *, host: str, port: int, token: str, title: str) -> Any:
    """A textual-serve Server that refuses every request without `token`."""
    from aiohttp import web
    from textual_serve.server import Server

    cookie = COOKIE.format(port=port)

    def token_ok(request: web.Request) -> bool:
        supplied = request.query.get("token") or request.cookies.get(cookie) or ""
        return hmac.compare_digest(supplied.encode(), token.encode())

    def same_origin(request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if not origin:
            return True  # not a browser's cross-site request (browsers always send it on ws)
        return origin.split("://", 1)[-1].rstrip("/") == request.host

    @web.middleware
    async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
        if not token_ok(request):
            raise web.HTTPForbidden(text="403: this Gas Town needs the token from `gt serve`\n")
        if request.path == "/ws" and not same_origin(request):
            raise web.HTTPForbidden(text="403: websocket from another origin\n")
        response = await handler(request)
        if request.path == "/" and request.query.get("token"):
            # The page's websocket and static URLs carry no query: they send this cookie.
            response.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/")
        return response

    class TokenServer(Server):  # type: ignore[misc]
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(require_token)
            return app

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # The page's websocket and static URLs use the host the browser asked for, so
            # its cookie (which is per host) goes with them: localhost and 127.0.0.1 both work.
            if request.host:
                self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        def initialize_logging(self) -> None:
            """Quiet: we print the URL ourselves; aiohttp's access log stays off."""

        async def on_startup(self, app: web.Application) -> None:
            """No banner (textual-serve's prints the URL without the token)."""

    return TokenServer(
        command,
        host=host,
        port=port,
        title=title,
        public_url=f"http://{public_host(host)}:{port}",
    )


def serve(
    town: Town,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    write: bool = False,
    token: str | None = None,
    out: Any = None,
) -> int:
    """Run the web server until interrupted. Prints the URL (with its token) first."""
    import asyncio

    from aiohttp import web

    out = out or sys.stdout
    if token is not None and len(token) < MIN_TOKEN:
        raise GtError(
            f"--token must be at least {MIN_TOKEN} characters",
            hint="or leave it out for a random one",
        )
    token = token or secrets.token_urlsafe(24)
    sock = bind_socket(host, port)
    port = sock.getsockname()[1]
    server = make_server(
        app_command(town, write=write),
        host=host,
        port=port,
        token=token,
        title=f"Gas Town: {town.config.name}",
    )
    warning = exposure_warning(host, port, write)
    if warning:
        print(warning, file=sys.stderr)
    mode = "read-write (--write)" if write else "read-only (add --write to act)"
    print(f"{server.public_url}/?token={token}", file=out, flush=True)
    print(f"gt serve: {town.root}, {mode}; Ctrl+C stops it", file=sys.stderr, flush=True)
    from gastown_tui.town.status import supervisor_summary

    if supervisor_summary(town) is None:
        print(
            "gt serve: note: nobody supervises this town (browser views do not): "
            "run `gt up` so the patrols run",
            file=sys.stderr,
            flush=True,
        )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, server.request_exit)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        web.run_app(
            server._make_app(),
            sock=sock,
            handle_signals=False,
            loop=loop,
            print=None,
            access_log=None,
        )
    finally:
        sock.close()
    return 0


# -- the app process textual-serve starts for each browser connection ------------------------


def _app_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gastown_tui.tui.serve")
    parser.add_argument("--town", required=True)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    # Never switch or nest a tmux client from a browser session.
    for name in ("TMUX", "TMUX_PANE"):
        os.environ.pop(name, None)
    from gastown_tui.town.town import Town

    town = Town.open(Path(args.town))
    app = make_served_app(town, read_only=not args.write)
    app.run()
    return int(app.return_code or 0)


if __name__ == "__main__":
    raise SystemExit(_app_main(sys.argv[1:]))
