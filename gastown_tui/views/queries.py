"""Reads of one town for any front end: rigs and beads, polecats (tmux-derived states), convoys,
mail, the event log, agents' panes. `TownQueries` is the read half of the app's door to the
town (views/actions.py adds the writes).

Every method may block (disk, tmux): a front end calls them off its UI thread. Results are the
frozen records of views/rows.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError
from gastown_tui.town.paths import session_for
from gastown_tui.views.rows import (
    MAIL_LIMIT,
    OVERSEER,
    BeadRow,
    ConvoyRow,
    ConvoysSnapshot,
    HookedBead,
    MailRow,
    MailSnapshot,
    PolecatRow,
    RigRow,
    RigsSnapshot,
)

if TYPE_CHECKING:
    from gastown_tui.dispatch.observe import PolecatView
    from gastown_tui.tmux import AttachPlan, TownTmux
    from gastown_tui.town.events import EventFollower
    from gastown_tui.town.mail import Message
    from gastown_tui.town.models import Event
    from gastown_tui.town.town import Town


def preload(town: Town | None = None, *, supervise: bool = False) -> None:
    """Import the backend before a front end starts its threads: imports in worker threads
    would serialise on the import lock anyway. The patrols (supervise/host.py) only when
    `supervise` and nobody holds `town`'s lease: a viewer of another supervisor imports them
    only if it takes over (supervise/loop.py), and holds ~1 MB less all day. (libtmux, which
    reads `sys.stdout.encoding` at import and fails inside the app, is imported only by
    `TownTmux.server`, which the app never uses.)"""
    import gastown_tui.dispatch.agents
    import gastown_tui.dispatch.nudge
    import gastown_tui.dispatch.observe
    import gastown_tui.dispatch.sling
    import gastown_tui.runtimes.presets
    import gastown_tui.supervise.lease
    import gastown_tui.supervise.loop
    import gastown_tui.tmux
    import gastown_tui.town.polecats

    if supervise and town is not None and gastown_tui.supervise.lease.lease_free(town):
        import gastown_tui.supervise.host
        import gastown_tui.supervise.notify


def default_tmux(town: Town) -> TownTmux | None:
    """The town's tmux server handle, or None when tmux is not installed."""
    from gastown_tui.dispatch.tmuxfor import tmux_for

    tmux = tmux_for(town)
    return tmux if tmux.available() else None


def polecat_row(view: PolecatView) -> PolecatRow:
    """A dispatch.observe PolecatView as the row a front end shows."""
    hook = (
        HookedBead(view.bead_id, safe(view.bead_title or ""), view.bead_status or "")
        if view.bead_id
        else None
    )
    return PolecatRow(
        address=view.address,
        rig=view.rig,
        name=view.name,
        state=view.state,
        runtime=view.runtime,
        hook=hook,
        window_exists=view.window_exists,
        alive=view.alive,
        pane_id=view.pane_id,
        last_activity=view.last_activity,
        detail=view.hint,
        prompt=view.prompt,
    )


def mail_row(message: Message) -> MailRow:
    return MailRow(
        id=message.id,
        sender=safe(message.sender),
        subject=safe(message.subject),
        body=safe_lines(message.body),
        to=tuple(safe(a) for a in message.to),
        type=message.type,
        priority=message.priority,
        created=message.created,
        read=message.read,
        inbox=message.inbox,
        thread=message.thread,
    )


def with_roles(town: Town, rows: list[PolecatRow]) -> list[PolecatRow]:
    """The role each polecat records (its `role` key), for the Rigs tree's role groups."""
    roles: dict[str, str] = {}
    for rig in town.rigs.names():
        for doc in town.storage.polecats.docs(rig):
            if doc.get("role"):
                roles[f"{rig}/{doc['name']}"] = str(doc["role"])
    if not roles:
        return rows
    return [replace(r, role=roles[r.address]) if r.address in roles else r for r in rows]


class TownQueries:
    """Reads of one town. Thread-safe enough for concurrent readers: the store caches parsed
    files behind a lock and never lends them for mutation."""

    def __init__(
        self,
        town: Town,
        tmux: TownTmux | None,
        *,
        observe: Callable[[], list[PolecatRow]] | None = None,
        capture: Callable[[str, int], str] | None = None,
    ) -> None:
        self.town = town
        self.tmux = tmux
        # Test seams: a fixed list of polecats and a fake pane, for deterministic snapshots.
        self._observe_override = observe
        self._capture_override = capture
        self._live_seen = False  # the last look read the town observer's state

    # -- the town -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.town.config.name

    @property
    def is_demo(self) -> bool:
        return self.town.config.default_runtime == "demo"

    def runtimes(self) -> list[str]:
        """Runtime names for the sling dialog: the town's default first."""
        from gastown_tui.runtimes.presets import all_runtimes

        names = sorted(all_runtimes(self.town))
        default = self.town.config.default_runtime
        return [default] + [n for n in dict.fromkeys(names) if n != default]

    def addresses(self) -> list[str]:
        from gastown_tui.town.addresses import all_addresses

        return all_addresses(self.town)

    # -- rigs and beads -------------------------------------------------------------------
    def load_rigs(self) -> RigsSnapshot:
        rigs: list[RigRow] = []
        open_beads: list[BeadRow] = []
        ready_by_rig: dict[str, list[BeadRow]] = {}
        for bead in self.town.beads.ready():
            ready_by_rig.setdefault(bead.rig, []).append(BeadRow.from_doc(bead.to_dict()))
        for rig in self.town.rigs.list():
            docs = self.town.beads.list_docs(rig=rig.name)
            counts: dict[str, int] = {}
            for doc in docs:
                status = str(doc.get("status", "open"))
                counts[status] = counts.get(status, 0) + 1
            open_beads.extend(BeadRow.from_doc(d) for d in docs)
            rigs.append(
                RigRow(
                    name=rig.name,
                    prefix=rig.prefix,
                    open_count=len(docs),
                    ready=tuple(ready_by_rig.get(rig.name, ())),
                    status_counts=tuple(sorted(counts.items())),
                )
            )
        return RigsSnapshot(tuple(rigs), tuple(open_beads))

    def bead(self, bead_id: str) -> dict[str, Any]:
        """One bead in full (the `--json` shape), for the bead view."""
        return self.town.beads.get(bead_id).to_dict()

    # -- polecats -------------------------------------------------------------------------
    def load_polecats(self) -> list[PolecatRow]:
        """Every polecat's row: from the town's observer's state when one runs (no tmux call;
        dispatch/live.py), else from tmux directly (dispatch/observe.py)."""
        if self._observe_override is not None:
            return list(self._observe_override())
        if self.tmux is not None:
            from gastown_tui.dispatch.live import read_live
            from gastown_tui.dispatch.observe import observe

            live = read_live(self.town, self.tmux.socket_name)
            self._live_seen = live is not None
            views = observe(self.town, self.tmux, now=self.town.clock.now(), live=live)
            return with_roles(self.town, [polecat_row(v) for v in views])
        return with_roles(self.town, self._polecats_from_store())

    def observed_live(self) -> bool:
        """The last load_polecats read an observer's state: states change by its events, and
        nobody needs to poll tmux."""
        return self._live_seen

    def _polecats_from_store(self) -> list[PolecatRow]:
        """Without tmux: identities and hooks from the store only. The window is unknown, so
        nothing is called a zombie or waiting on a guess."""
        rows: list[PolecatRow] = []
        for polecat, bead in self.town.polecats.list_with_hooks():
            hook = HookedBead(bead.id, safe(bead.title), bead.status) if bead else None
            rows.append(
                PolecatRow(
                    address=f"{polecat.rig}/{polecat.name}",
                    rig=polecat.rig,
                    name=polecat.name,
                    state="working" if hook else "idle",
                    runtime=polecat.runtime,
                    hook=hook,
                )
            )
        return rows

    # -- convoys --------------------------------------------------------------------------
    def load_convoys(self) -> ConvoysSnapshot:
        summary = self.town.convoys.status_summary()
        flying = tuple(
            ConvoyRow(
                c["id"], safe(c["title"]), int(c["done"]), int(c["total"]), auto=c.get("auto")
            )
            for c in summary["in_flight"]
        )
        landed = tuple(
            ConvoyRow(
                c["id"],
                safe(c["title"]),
                int(c["total"]),
                int(c["total"]),
                "landed",
                c["landed_at"],
            )
            for c in summary["recently_landed"]
        )
        return ConvoysSnapshot(flying, landed)

    def convoy_status(self, convoy_id: str) -> dict[str, Any]:
        status = self.town.convoys.status(convoy_id)
        from gastown_tui.town.formulas import step_tree

        # A formula run's convoy: its steps as a dependency tree (screens/convoy.py).
        status["steps"] = step_tree(self.town, [row["id"] for row in status["beads"]])
        return status

    def open_convoys(self) -> list[tuple[str, str]]:
        return [(c.id, c.title) for c in self.town.convoys.list()]

    # -- mail -----------------------------------------------------------------------------
    def load_mail(self, address: str) -> MailSnapshot:
        from gastown_tui.town.addresses import check_address, normalize

        address = normalize(address)
        if address != OVERSEER:
            check_address(self.town, address, "inbox")
        messages = self.town.mail.inbox(address)[:MAIL_LIMIT]
        rows = tuple(mail_row(m) for m in messages)
        return MailSnapshot(address, rows, sum(1 for m in rows if not m.read))

    # -- events ---------------------------------------------------------------------------
    def feed_start(self, count: int) -> tuple[list[Event], EventFollower]:
        return self.town.events.tail_and_follow(count)

    @staticmethod
    def feed_poll(follower: EventFollower) -> list[Event]:
        return follower.poll()

    # -- tmux -----------------------------------------------------------------------------
    def capture(self, pane_id: str, lines: int) -> str:
        if self._capture_override is not None:
            return self._capture_override(pane_id, lines)
        if self.tmux is None:
            raise GtError("tmux is not installed", hint="install tmux to see agents' windows")
        return self.tmux.capture(pane_id, lines=lines, escape_sequences=True)

    def find_pane(self, polecat: PolecatRow) -> str | None:
        if polecat.pane_id:
            return polecat.pane_id
        if self.tmux is None:
            return None
        info = self.tmux.find_window(session_for(polecat.rig), polecat.name)
        return info.pane_id if info is not None else None

    def attach_plan(self, polecat: PolecatRow) -> AttachPlan:
        if self.tmux is None:
            raise GtError("tmux is not installed", hint="install tmux to attach to agents")
        from gastown_tui.dispatch.agents import attach_for

        return attach_for(self.town, self.tmux, polecat.address)

    @staticmethod
    def run_attach(plan: AttachPlan) -> int:
        from gastown_tui.tmux import run_attach

        return run_attach(plan)


def merge_queue(town: Town) -> list[dict[str, Any]]:
    """Every merge request in the order the refinery takes them (town/merge_requests.py), as
    dicts with their `state`, the bead's `title`, and, while one verifies, its `live_log` (the
    verify's output so far)."""
    from gastown_tui.town.merge_requests import MergeRequests, read_live_log

    requests = MergeRequests(town).list()
    titles = town.beads.get_many(str(m.doc.get("bead")) for m in requests if m.doc.get("bead"))
    out = []
    for mr in requests:
        row = mr.to_dict()
        bead = titles.get(str(mr.doc.get("bead")))
        row["title"] = bead.title if bead else ""
        if row.get("state") == "verifying":
            row["live_log"] = read_live_log(town, str(row["id"]))
        out.append(row)
    return out
