"""The town's tmux server: sessions, windows, the nudge protocol, capture, liveness, attach.

Imports the town core (and libtmux only for `TownTmux.server`); never textual. Everything
runs on the town's dedicated socket (`tmux -L gt-<hash>`) and touches only `gt-*` sessions.
"""

from __future__ import annotations

from gastown_tui.tmux.attach import AttachPlan, attach_plan, run_attach
from gastown_tui.tmux.nudge import (
    MAX_NUDGE_BYTES,
    NudgeResult,
    check_nudge,
    chunk_utf8,
    nudge,
    sanitize,
)
from gastown_tui.tmux.server import (
    SESSION_PREFIX,
    PaneSnapshot,
    TmuxCommandFailed,
    TownTmux,
    WindowInfo,
)

__all__ = [
    "MAX_NUDGE_BYTES",
    "SESSION_PREFIX",
    "AttachPlan",
    "NudgeResult",
    "PaneSnapshot",
    "TmuxCommandFailed",
    "TownTmux",
    "WindowInfo",
    "attach_plan",
    "check_nudge",
    "chunk_utf8",
    "nudge",
    "run_attach",
    "sanitize",
]
