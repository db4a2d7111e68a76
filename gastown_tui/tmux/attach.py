"""Attach a person's terminal to an agent's window.

Three situations, told apart by the `TMUX` variable (`<socket path>,<server pid>,<session>`):

- outside tmux: `tmux -L <socket> attach -t <pane>`, with `TMUX` removed;
- inside the town's own server: `switch-client`, since attaching there would nest tmux
  inside itself;
- inside a *different* tmux server (the user's own): attaching nests one tmux in another,
  which works but doubles the prefix key. The plan says so and the caller asks first.

The TUI suspends itself (`App.suspend()`) around `run_attach`; that is its business, not ours.
Each plan also says how to come back (`back`), shown in tmux's status line once there: after a
`switch-client`, `prefix d` would detach the whole client, app and all; `prefix L` (the last
session) is the way back.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gastown_tui.tmux.server import INSTALL_HINT, TownTmux, WindowInfo
from gastown_tui.town.errors import GtError

AttachMode = Literal["switch", "attach", "nested"]

_TMUX_VARS = ("TMUX", "TMUX_PANE")
BACK_SHOWN_MS = 6000


@dataclass(frozen=True)
class AttachPlan:
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    mode: AttachMode
    message: str
    back: str = ""  # how to come back to the app, shown in tmux once attached

    @property
    def run_argv(self) -> list[str]:
        """argv, then tmux shows `back` in the status line for a few seconds."""
        if not self.back:
            return self.argv
        return [*self.argv, ";", "display-message", "-d", str(BACK_SHOWN_MS), self.back]

    @property
    def nested(self) -> bool:
        """Running the plan starts tmux inside another tmux: ask the person first."""
        return self.mode == "nested"


def tmux_env_socket(environ: Mapping[str, str]) -> Path | None:
    """The socket path of the tmux server this environment runs inside, if any."""
    value = environ.get("TMUX", "")
    if not value:
        return None
    # The path comes first and may itself contain commas; pid and session index do not.
    parts = value.rsplit(",", 2)
    return Path(parts[0]) if parts[0] else None


def _same_path(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def attach_plan(
    tmux: TownTmux,
    target: str | WindowInfo,
    environ: Mapping[str, str] = os.environ,
) -> AttachPlan:
    """Decide how to put this terminal on `target` (a WindowInfo, or a tmux target string)."""
    info = _resolve(tmux, target)
    where = f"{info.target} (pane {info.pane_id})"
    without_tmux = {k: v for k, v in environ.items() if k not in _TMUX_VARS}
    inside = tmux_env_socket(environ)
    # The pane id picks the session, the window and the pane in one unambiguous target.
    attach_argv = [*tmux.base_argv(), "attach-session", "-t", info.pane_id]
    if inside is None:
        return AttachPlan(
            argv=attach_argv,
            env=without_tmux,
            mode="attach",
            message=f"attaching to {where}; detach with your tmux prefix then d",
            back="Gas Town: prefix then d (detach) takes you back to the app",
        )
    if _same_path(inside, tmux.socket_path()):
        return AttachPlan(
            argv=[*tmux.base_argv(), "switch-client", "-t", info.pane_id],
            env=dict(environ),
            mode="switch",
            message=(
                f"switched this tmux client to {where}; back to Gas Town: prefix then L "
                "(last session). prefix then d would detach this whole client, app included"
            ),
            back="Gas Town: prefix then L (last session) takes you back; prefix d detaches all",
        )
    return AttachPlan(
        argv=attach_argv,
        env=without_tmux,
        mode="nested",
        message=(
            f"you are inside another tmux server ({inside}); attaching to {where} will nest "
            "the town's tmux inside it. Keys go to the outer tmux first: press the prefix "
            "twice to reach the inner one (prefix, prefix, d detaches from the agent)"
        ),
        back="Gas Town: prefix, prefix, d (detach the inner tmux) takes you back to the app",
    )


def run_attach(plan: AttachPlan) -> int:
    """Run the plan on this terminal (stdin/stdout inherited); returns tmux's exit status."""
    try:
        return subprocess.run(plan.run_argv, env=plan.env, check=False).returncode
    except FileNotFoundError:
        raise GtError("tmux is not installed", hint=INSTALL_HINT)


def _resolve(tmux: TownTmux, target: str | WindowInfo) -> WindowInfo:
    """Refresh a WindowInfo, or look a target string up, refusing windows the town does not own."""
    if isinstance(target, WindowInfo):
        pane_id = target.pane_id
    elif target.startswith("%"):
        pane_id = target
    else:
        # Not display-message: for a target it cannot find, it quietly uses the current pane.
        result = tmux.run("list-panes", "-t", target, "-F", "#{pane_id}", check=False)
        if result.returncode != 0 or not result.lines:
            raise GtError(f"no tmux window {target!r} in the town's server")
        pane_id = result.lines[0]  # the window's first pane is the agent's
    info = tmux.pane_info(pane_id)
    if info is None:
        name = target.target if isinstance(target, WindowInfo) else target
        raise GtError(
            f"no town window {name!r} to attach to",
            hint="it may have been closed; the town only attaches to its own gt-* sessions",
        )
    return info
