"""Keys typed in a burst land where they were aimed (over SSH many keys arrive per read).

Textual hands a key to the focused widget's queue at once and checks the screen's and app's
bindings only when the key bubbles back up, so in a burst every key is handed out before the
first one's binding runs: `m` then `mayor` sent the letters to the tree behind the dialog
that `m` was about to open. And `Widget.focus()` is deferred (`call_later`), so keys queued
before it went to the widget that had the focus.

So: `HeldKeys` hands keys on one at a time. The next key goes only once the previous one has
been through every queue it bubbles through (a `call_later` sentinel follows it up the DOM)
and the top screen is mounted (its `on_mount` has set the focus). `focus_now` sets the focus
at once. A key is never dropped: if a sentinel never comes back (its widget went away), the
next key goes after `SETTLE_WAIT`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING

from textual import events
from textual.message import Message
from textual.message_pump import MessagePump
from textual.widget import Widget
from textual.widgets import Input, TextArea

if TYPE_CHECKING:
    from textual.app import App

# A key whose handling never reports back, or a screen that never mounts, must not hold
# the keys behind it: after this many seconds they go on.
SETTLE_WAIT = 1.0
REQUEUE = 4  # how many times a sentinel goes behind messages a key made on one node


def _queued(node: MessagePump) -> bool:
    queue = getattr(node, "_message_queue", None)
    return queue is not None and not queue.empty()


def focus_now(widget: Widget, scroll_visible: bool = True) -> None:
    """Focus `widget` before the next key is handled (Widget.focus waits its turn)."""
    try:
        screen = widget.screen
    except Exception:
        widget.focus(scroll_visible)
        return
    if not widget.is_attached:
        widget.focus(scroll_visible)
        return
    screen.set_focus(widget, scroll_visible=scroll_visible)


class FlushKeys(Message):
    """The previous key is handled and the top screen mounted: hand on the next."""


class HeldKeys:
    """Keys waiting for the one before them to be handled, oldest first."""

    def __init__(self, app: App[object]) -> None:
        self.app = app
        self.keys: deque[events.Key] = deque()
        self.in_flight = 0  # sequence number of the key being handled, 0 when none
        self._sequence = 0
        self._waiter: asyncio.Task[None] | None = None

    def ready(self) -> bool:
        return not self.in_flight and self.app.screen.is_mounted

    @property
    def idle(self) -> bool:
        """No key held or being handled (tests wait for this before looking)."""
        return not self.in_flight and not self.keys

    def hold(self, event: events.Key) -> bool:
        """Keep `event` for later unless it can be handled now (then it is in flight)."""
        if not self.keys and self.ready():
            self._start()
            return False
        self.keys.append(event)
        self._wait_for_mount()
        return True

    def _start(self) -> None:
        self._sequence += 1
        self.in_flight = self._sequence
        sequence = self._sequence
        asyncio.get_running_loop().call_later(SETTLE_WAIT, self._settled, sequence)

    def follow(self, target: MessagePump, event: events.Key | None = None) -> None:
        """The key in flight was handed to `target`: release the next key once the key has
        been through `target` and every node above it (FIFO queues: a sentinel posted behind
        the key on each node runs after the node handled it and bubbled it to its parent)."""
        sequence = self.in_flight
        if event is not None and event.is_printable and isinstance(target, Input | TextArea):
            # A character typed into a text field stays there (it runs no binding): the next
            # key may follow at once, queued behind it on the same widget. A paste of 200
            # characters would otherwise take ~0.7 s (bench/bench_hardening.py).
            self._settled(sequence)
            return
        chain: list[MessagePump] = [target]
        node = target
        while (parent := getattr(node, "_parent", None)) is not None:
            chain.append(parent)
            node = parent
        if chain[-1] is not self.app:
            chain.append(self.app)

        rounds = [0]

        def arrive(index: int) -> None:
            """Post a sentinel behind whatever `chain[index]` has queued (the key, or what
            it bubbled there)."""
            while index < len(chain):
                if chain[index].call_later(ran, index, 1):
                    return
                index += 1  # a closed node: nothing passes through it any more
            # At the top. A binding the app ran for the key may have queued messages further
            # down (Enter in an Input: Input.Submitted on the Input): follow those too.
            # (The app's own queue is left out: it holds unrelated messages and new keys.)
            if rounds[0] < REQUEUE and any(_queued(node) for node in chain[:-1]):
                rounds[0] += 1
                arrive(0)
                return
            self._settled(sequence)

        def ran(index: int, visits: int) -> None:
            # Handling the key may have queued more on this node: go behind that too.
            more = visits < REQUEUE and index < len(chain) - 1 and _queued(chain[index])
            if more and chain[index].call_later(ran, index, visits + 1):
                return
            arrive(index + 1)

        arrive(0)

    def _settled(self, sequence: int) -> None:
        if self.in_flight != sequence:
            return  # already released (the sentinel and the timeout both come)
        self.in_flight = 0
        if self.keys:
            self.app.post_message(FlushKeys())

    def _wait_for_mount(self) -> None:
        screen = self.app.screen
        if screen.is_mounted or (self._waiter is not None and not self._waiter.done()):
            return

        async def wait() -> None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(screen._mounted_event.wait(), SETTLE_WAIT)
            # Posted after the screen's own on_mount ran: its focus is set by then.
            self.app.post_message(FlushKeys())

        self._waiter = asyncio.get_running_loop().create_task(wait())

    def next_key(self) -> events.Key | None:
        """The next held key if it can be handled now (then it is in flight); else None."""
        if not self.keys:
            return None
        if self.in_flight:
            return None  # its release posts FlushKeys again
        if not self.app.screen.is_mounted:
            self._wait_for_mount()
            if not self._timed_out():
                return None
        self._start()
        return self.keys.popleft()

    def _timed_out(self) -> bool:
        return self._waiter is not None and self._waiter.done()
