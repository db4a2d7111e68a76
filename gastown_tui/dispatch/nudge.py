"""Nudging agents: now when they can take it, queued when they are busy, never claimed
delivered unless the pane showed it (the protocol is in tmux/nudge.py).

Queued nudges are files under `.runtime/nudge-queue/<agent>/` (town/work.py writes and reads
them): `deliver_queued` types them in when the agent is idle, and `gt prime` shows them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gastown_tui.dispatch.agents import find_window, screen_bottom
from gastown_tui.runtimes.presets import Runtime, runtime_for_pane
from gastown_tui.tmux import TownTmux, WindowInfo, check_nudge, nudge
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.paths import encode_address, session_for
from gastown_tui.town.polecats import split_address
from gastown_tui.town.storage.files import flocked
from gastown_tui.town.work import nudge_queue_lock, queue_nudge, queued_nudges

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

NudgeStatus = Literal["delivered", "queued", "failed", "skipped"]
PANE_LINES = 40  # how much of the pane's bottom decides busy / waiting
# What a pane runs when a person's shell has it: typed text there is a command line.
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "tcsh", "csh", "ash"})


@dataclass(frozen=True)
class NudgeOutcome:
    agent: str
    status: NudgeStatus
    detail: str
    attempts: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "status": self.status,
            "detail": self.detail,
            "attempts": self.attempts,
            "elapsed": round(self.elapsed, 3),
        }


def nudge_lock(town: Town, address: str) -> Path:
    """Held while keys are typed into an agent: two nudges never interleave."""
    return town.paths.lock(f"nudge~{encode_address(address)}")


def _runtime(town: Town, address: str, info: WindowInfo) -> Runtime | None:
    polecat = town.polecats.find(address)
    return runtime_for_pane(town, polecat.runtime if polecat else None, info.current_command)


def _enter_delay(runtime: Runtime | None) -> dict[str, float]:
    """The pause a known program needs between typed text and Enter (runtimes/presets.py);
    for an unknown one, the nudge protocol's cautious default."""
    return {} if runtime is None else {"settle": runtime.enter_delay}


def takes_prompts(runtime: Runtime | None, info: WindowInfo | None) -> bool:
    """May the town type into this pane on its own? Only a runtime that reads typed text as a
    prompt (runtimes/presets.py `takes_prompts`), and only while a shell is not what the pane
    runs (an agent that exited to a shell, a window a person took over)."""
    if runtime is None or not runtime.takes_prompts:
        return False
    current = Path(info.current_command or "").name if info is not None else ""
    return not (current in SHELLS and runtime.exe != current)


def pane_bottom(tmux: TownTmux, info: WindowInfo, lines: int = PANE_LINES) -> str:
    """The bottom of the pane's visible screen: what the agent shows now."""
    return screen_bottom(tmux, info.pane_id, lines)


def nudge_agent(
    town: Town,
    tmux: TownTmux,
    agent: str,
    message: str,
    *,
    queue: bool = False,
    sender: str | None = None,
    defer_if_waiting: bool = False,
    automatic: bool = False,
) -> NudgeOutcome:
    """Nudge a polecat. Unknown agent or bad message: GtError (nothing typed or queued).
    No window or a dead pane: failed. Busy (its runtime's busy patterns show) or `queue`:
    queued. Otherwise the verified nudge protocol: delivered or failed.

    A nudge never answers a question by accident: a person's nudge to an agent that waits at
    one fails (GtFailure, nothing typed) and says how to answer it (`gt answer`, which sends
    exactly the keys of one choice); automatic nudges pass `defer_if_waiting` and are queued.

    `automatic` (the town nudging on its own: mail notices, stall nudges): only into a runtime
    that takes prompts, never a person's shell, where the text (a mail subject, a bead title)
    would run as a command; otherwise skipped, nothing typed or queued."""
    if "/" in agent and not queue:  # `batched` itself does without tmux
        # One control-mode client for the whole nudge, where tmux survives it: its ~7 tmux
        # calls cost ~0.2 ms each instead of a process each (tmux/server.py `batched`); it
        # attaches while the town is read below.
        with tmux.batched(session_for(split_address(agent)[0])):
            return _nudge(town, tmux, agent, message, queue, sender, defer_if_waiting, automatic)
    return _nudge(town, tmux, agent, message, queue, sender, defer_if_waiting, automatic)


def _nudge(
    town: Town,
    tmux: TownTmux,
    agent: str,
    message: str,
    queue: bool,
    sender: str | None,
    defer_if_waiting: bool,
    automatic: bool,
) -> NudgeOutcome:
    started = time.monotonic()
    address = town.polecats.resolve(agent)
    text = check_nudge(message)
    if automatic:
        polecat = town.polecats.find(address)
        info = find_window(tmux, address) if tmux.available() else None
        recorded = polecat.runtime if polecat else None
        runtime = runtime_for_pane(town, recorded, info.current_command if info else None)
        if not takes_prompts(runtime, info):
            return NudgeOutcome(
                address,
                "skipped",
                f"{address} runs {runtime.name if runtime else 'an unknown program'}, which does"
                " not take prompts: nothing typed (it reads its mail with gt mail inbox)",
                elapsed=time.monotonic() - started,
            )
    if queue:
        queue_nudge(town, address, text, sender)
        return NudgeOutcome(
            address, "queued", "queued; delivered when the agent is idle (or by gt prime)"
        )
    tmux.require()
    info = find_window(tmux, address)
    if info is None:
        return NudgeOutcome(address, "failed", f"{address} has no window; nothing was typed")
    if info.pane_dead:
        return NudgeOutcome(
            address,
            "failed",
            f"{address}'s pane is dead (its agent {info.how_it_ended}); nothing was typed",
        )
    runtime = _runtime(town, address, info)
    if runtime is not None and (runtime.busy or runtime.waiting):
        try:
            bottom = pane_bottom(tmux, info)
        except GtError:
            bottom = ""  # the pane went away: the protocol below reports it
        why = None
        prompt = runtime.waiting_prompt(bottom)
        if prompt is not None and not defer_if_waiting:
            # Typed text would answer it ("1" picks at once) and Enter the next prompt too.
            how = (
                f"answer with gt answer {address} CHOICE"
                if prompt.choices
                else f"answer it in its window (gt attach {address})"
            )
            raise GtFailure(
                f"{address} is waiting at: {prompt.describe()}; nothing was typed",
                hint=f"{how}, or queue the nudge with --queue",
            )
        if prompt is not None:
            why = "waiting for a person"
        elif runtime.is_busy(bottom):
            why = "busy"
        if why is not None:
            queue_nudge(town, address, text, sender)
            return NudgeOutcome(
                address,
                "queued",
                f"{address} is {why}; queued for delivery when it is idle",
                elapsed=time.monotonic() - started,
            )
    result = nudge(
        tmux,
        info.pane_id,
        text,
        lock_path=nudge_lock(town, address),
        info=info,
        **_enter_delay(runtime),
    )
    outcome = NudgeOutcome(
        address,
        "delivered" if result.delivered else "failed",
        result.detail,
        result.attempts,
        time.monotonic() - started,
    )
    with contextlib.suppress(Exception):
        town.events.append(
            "polecat.nudged" if result.delivered else "polecat.nudge_failed",
            actor=sender or town.actor,
            rig=split_address(address)[0],
            msg=text[:200],
            polecat=address,
        )
    return outcome


def deliver_queued(town: Town, tmux: TownTmux, agent: str) -> int:
    """Type the agent's queued nudges, oldest first, while it is idle (not busy, not waiting
    for a human: typed text would answer the prompt). Returns how many were delivered."""
    address = town.polecats.resolve(agent)
    if not queued_nudges(town, address) or not tmux.available():
        return 0
    delivered = 0
    with flocked(nudge_queue_lock(town, address)):
        for queued in queued_nudges(town, address):
            info = find_window(tmux, address)
            if info is None or info.pane_dead:
                break
            runtime = _runtime(town, address, info)
            if not takes_prompts(runtime, info):
                break  # a shell: queued text stays for `gt prime` to show, never typed
            assert runtime is not None
            try:
                bottom = pane_bottom(tmux, info)
            except GtError:
                break
            if runtime.is_busy(bottom) or runtime.is_waiting(bottom):
                break
            result = nudge(
                tmux,
                info.pane_id,
                queued.text,
                lock_path=nudge_lock(town, address),
                info=info,
                **_enter_delay(runtime),
            )
            if not result.delivered:
                break
            with contextlib.suppress(FileNotFoundError):
                queued.path.unlink()
            delivered += 1
    if delivered:
        with contextlib.suppress(Exception):
            town.events.append(
                "polecat.nudged",
                actor=town.actor,
                rig=split_address(address)[0],
                msg=f"{delivered} queued nudge{'s' if delivered != 1 else ''} delivered",
                polecat=address,
            )
    return delivered


def mail_nudge_text(sender: str, subject: str) -> str:
    return f"You have mail from {sender}: {subject} — run gt mail inbox"


def _recipient(message: Any) -> str | None:
    address = getattr(message, "inbox", None) or getattr(message, "to", None)
    return address if isinstance(address, str) else None


def install_mail_nudges(town: Town, tmux: TownTmux) -> Callable[[list[Any]], None]:
    """Nudge each polecat that just received mail and has a live window (queued when busy).
    Appends the callback to `town.mail.on_delivered` and returns it (to remove it again)."""

    def on_delivered(messages: list[Any]) -> None:
        for message in messages:
            address = _recipient(message)
            if not address or "/" not in address or address == getattr(message, "sender", None):
                continue
            if town.polecats.find(address) is None:
                continue  # a rig role or a town agent: not a polecat window
            try:
                info = find_window(tmux, address)
                if info is None or info.pane_dead:
                    continue  # it reads its mail count with gt prime when it starts
                nudge_agent(
                    town,
                    tmux,
                    address,
                    mail_nudge_text(getattr(message, "sender", "?"), message.subject),
                    sender=getattr(message, "sender", None),
                    defer_if_waiting=True,
                    automatic=True,
                )
            except GtError:
                continue  # a nudge is a courtesy: the mail itself is stored

    town.mail.on_delivered.append(on_delivered)
    return on_delivered
