"""dispatch layer: everything that combines the store and tmux (sling, nudge, observe, …).

This module stays import-light: `gt mail send` imports it for `install_mail_hooks`, and only
pays for tmux when a recipient really is a polecat with a window.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.town import Town


def __getattr__(name: str) -> Any:
    # `tmux_for` is reachable as `gastown_tui.dispatch.tmux_for` without importing libtmux
    # for callers that never use it.
    if name == "tmux_for":
        from gastown_tui.dispatch.tmuxfor import tmux_for

        return tmux_for
    raise AttributeError(name)


MAIL_HOOK = "nudge_mail_recipients"  # the name of the hook on `town.mail.on_delivered`


def mail_hook(town: Town) -> Callable[[list[Any]], None]:
    """The callback that nudges polecats receiving mail (queued when busy); not installed.

    It first checks the store (cheap) and imports the tmux layer only when a recipient is a
    polecat whose record says it has a window.
    """
    state: dict[str, Any] = {}

    def nudge_mail_recipients(messages: list[Any]) -> None:
        if any(getattr(m, "inbox", None) == "mayor" for m in messages):
            _wake_mayor(town, messages)
        wanted = []
        for message in messages:
            address = getattr(message, "inbox", None) or getattr(message, "to", None)
            if not isinstance(address, str) or "/" not in address:
                continue
            polecat = town.polecats.find(address)
            if polecat is not None and polecat.window:
                wanted.append(message)
        if not wanted:
            return
        if "callback" not in state:
            from gastown_tui.dispatch.nudge import install_mail_nudges
            from gastown_tui.dispatch.tmuxfor import tmux_for

            callback = install_mail_nudges(town, tmux_for(town))
            town.mail.on_delivered.remove(callback)  # called from here, not twice
            state["callback"] = callback
        state["callback"](wanted)

    return nudge_mail_recipients


def install_mail_hooks(town: Town) -> None:
    """Nudge polecats that receive mail: `mail_hook` on `town.mail.on_delivered`, once per town
    (gastown_tui/compose.py wires every entry point this way, lazily)."""
    if not any(getattr(h, "__name__", "") == MAIL_HOOK for h in town.mail.on_delivered):
        town.mail.on_delivered.append(mail_hook(town))


def _wake_mayor(town: Town, messages: list[Any]) -> None:
    """Mail from an agent to a running mayor wakes it (dispatch/mayor.py wake_for_mail)."""
    # The record read as town/mayor.py's MayorState.from_doc reads `desired`, without
    # importing that module (its dataclasses are most of a `gt mail send mayor`).
    doc = next((d for d in town.storage.agents.docs() if d.get("address") == "mayor"), {})
    if str(doc.get("desired") or "stopped") != "running":
        return  # it reads its mail with gt prime when it starts
    from gastown_tui.dispatch.mayor import wake_for_mail
    from gastown_tui.dispatch.tmuxfor import tmux_for

    wake_for_mail(town, tmux_for(town), messages)
