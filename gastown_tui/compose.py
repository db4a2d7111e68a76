"""The composition root: how every entry point puts a town together, so that each has the same
hooks. The CLI (commands/common.py `open_town`, used by every command including `gt daemon`)
and the app (`make_app`, `gt serve`) build their town here and nowhere else.

What a town's process needs beyond `Town` itself:

- mail delivered to a polecat nudges it (queued while it is busy): the town core cannot
  import dispatch (the layers point down), so the hook is installed here
  (dispatch/__init__.py `install_mail_hooks`). Without it a REWORK_REQUEST that the refinery
  mails under `gt daemon` would wait unread until the polecat happened to look.

Keep this module light: every CLI call imports it (dispatch/__init__.py imports no tmux).
Only entry points import it (an import-linter contract in pyproject.toml says so).
"""

from __future__ import annotations

import os
from collections.abc import Callable

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.clock import Clock
    from gastown_tui.town.town import Town


def wire(town: Town) -> Town:
    """Install the hooks every process of a town has (idempotent); returns `town`.

    The mail hook imports dispatch at the first delivery, not here: `gt prime`, `gt hook` and
    `gt done`, which agents call all day, never pay for it (tests/test_done.py)."""
    # Before the mail store is made, its hooks wait in town.mail_hooks (town/town.py).
    hooks = town.mail.on_delivered if "mail" in town.__dict__ else town.mail_hooks
    if any(getattr(hook, "__name__", "") == "nudge_mail_recipients" for hook in hooks):
        return town
    loaded: list[Callable[[list[Any]], None]] = []

    def nudge_mail_recipients(messages: list[Any]) -> None:
        if not loaded:
            from gastown_tui.dispatch import mail_hook

            loaded.append(mail_hook(town))
        loaded[0](messages)

    hooks.append(nudge_mail_recipients)
    return town


def open_town(
    root: str | os.PathLike[str] | None = None,
    *,
    clock: Clock | None = None,
    actor: str | None = None,
) -> Town:
    """The town at `root` (or $GT_TOWN, ~/gt), wired."""
    from gastown_tui.town.town import Town

    return wire(Town.open(root, clock=clock, actor=actor))


def town_tmux(town: Town) -> TownTmux:
    """The town's own tmux server (socket `town.paths.tmux_socket`)."""
    from gastown_tui.dispatch.tmuxfor import tmux_for

    return tmux_for(town)
