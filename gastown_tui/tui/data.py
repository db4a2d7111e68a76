"""The app's one door to the town: every read of town, tmux and dispatch state goes through
`TownData`, and so does every write the app makes.

Why one module: the backend (dispatch, polecat registry, runtimes, supervisor) is written in
parallel with the app. Its contract lives here and nowhere else in the tui package, so when a
signature changes only this file changes. Modules that are not there yet are looked up with
`importlib.util.find_spec`; the app then shows a clear "not available yet" state, and an
action that needs one raises a GtError saying so.

Every method may block (disk, tmux): the app calls them from thread workers only. Results
are small frozen dataclasses, safe to hand to the UI thread.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gastown_tui.town.clock import parse_iso
from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError
from gastown_tui.town.paths import session_for
from gastown_tui.town.polecats import ATTENTION_STATES

if TYPE_CHECKING:
    from gastown_tui.tmux import AttachPlan, TownTmux
    from gastown_tui.town.events import EventFollower
    from gastown_tui.town.models import Event
    from gastown_tui.town.town import Town

OVERSEER = "overseer"
NEEDS_HUMAN_LABEL = "needs-human"
BUILTIN_RUNTIMES = ("claude", "codex", "gemini", "aider", "shell", "builtin", "demo")
MAIL_LIMIT = 300

# Backend modules the app uses when they exist (name -> what it gives the app).
FEATURES: dict[str, str] = {
    "observe": "gastown_tui.dispatch.observe",
    "sling": "gastown_tui.dispatch.sling",
    "nudge": "gastown_tui.dispatch.nudge",
    "agents": "gastown_tui.dispatch.agents",
    "presets": "gastown_tui.runtimes.presets",
    "polecats": "gastown_tui.town.polecats",
}
SUPERVISOR_MODULES = (
    "gastown_tui.supervise.host",
    "gastown_tui.supervise.lease",
    "gastown_tui.supervise.notify",
)
FEATURE_LABELS: dict[str, str] = {
    "observe": "live polecat states (dispatch.observe)",
    "sling": "slinging (dispatch.sling)",
    "nudge": "nudging (dispatch.nudge)",
    "agents": "agent windows (dispatch.agents)",
    "presets": "runtime presets (runtimes.presets)",
    "polecats": "the polecat registry (town.polecats)",
}


def optional_module(dotted: str) -> ModuleType | None:
    """Import a backend module if it exists; None while it is still being written."""
    try:
        if importlib.util.find_spec(dotted) is None:
            return None
    except ModuleNotFoundError:  # a parent package is missing
        return None
    return importlib.import_module(dotted)


def preload() -> None:
    """Import the backend before Textual starts: imports in worker threads would serialise
    on the import lock anyway. (libtmux, which reads `sys.stdout.encoding` at import and
    fails inside the app, is imported only by `TownTmux.server`, which the app never uses.)"""
    import gastown_tui.tmux  # noqa: F401

    for dotted in (*FEATURES.values(), *SUPERVISOR_MODULES):
        optional_module(dotted)


def feature_available(feature: str) -> bool:
    try:
        return importlib.util.find_spec(FEATURES[feature]) is not None
    except ModuleNotFoundError:
        return False


def not_available(feature: str) -> GtError:
    return GtError(
        f"{FEATURE_LABELS.get(feature, feature)} is not available yet in this build",
        hint="this part of Gas Town is still being written",
    )


# --------------------------------------------------------------------------------------------
# records handed to the UI
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookedBead:
    id: str
    title: str
    status: str = "hooked"


@dataclass(frozen=True)
class PolecatRow:
    address: str
    rig: str
    name: str
    state: str
    runtime: str = ""
    hook: HookedBead | None = None
    window_exists: bool | None = None  # None: unknown (no tmux to ask)
    alive: bool | None = None
    pane_id: str | None = None
    last_activity: float | None = None
    detail: str = ""
    prompt: Any = None  # runtimes.screens.Prompt: what it waits at (state "waiting")
    role: str = ""  # the role it works as (town/roles.py); "" for a plain polecat

    @property
    def needs_attention(self) -> bool:
        return self.state in ATTENTION_STATES


@dataclass(frozen=True)
class BeadRow:
    id: str
    title: str
    rig: str
    status: str = "open"
    priority: int = 2
    type: str = "task"
    labels: tuple[str, ...] = ()
    assignee: str | None = None
    created_at: str = ""
    queued: bool = False  # a sling waits for a slot (town/scheduler.py)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> BeadRow:
        return cls(
            id=safe(doc["id"]),
            title=safe(doc.get("title", "")),
            rig=str(doc.get("rig", "")),
            status=str(doc.get("status", "open")),
            priority=int(doc.get("priority", 2) or 0),
            type=safe(doc.get("type", "task")),
            labels=tuple(safe(label) for label in doc.get("labels") or ()),
            assignee=safe(doc["assignee"]) if doc.get("assignee") else None,
            created_at=str(doc.get("created_at", "")),
            queued=bool((doc.get("metadata") or {}).get("queued")),
        )


@dataclass(frozen=True)
class RigRow:
    name: str
    prefix: str
    open_count: int
    ready: tuple[BeadRow, ...] = ()
    status_counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class RigsSnapshot:
    rigs: tuple[RigRow, ...] = ()
    open_beads: tuple[BeadRow, ...] = ()

    @property
    def ready(self) -> list[BeadRow]:
        return [b for r in self.rigs for b in r.ready]

    @property
    def needs_human(self) -> list[BeadRow]:
        return [b for b in self.open_beads if NEEDS_HUMAN_LABEL in b.labels]


@dataclass(frozen=True)
class ConvoyRow:
    id: str
    title: str
    done: int
    total: int
    state: str = "open"
    landed_at: str | None = None
    auto: bool = False


@dataclass(frozen=True)
class ConvoysSnapshot:
    in_flight: tuple[ConvoyRow, ...] = ()
    landed: tuple[ConvoyRow, ...] = ()


@dataclass(frozen=True)
class MailRow:
    id: str
    sender: str
    subject: str
    body: str = ""
    to: tuple[str, ...] = ()
    type: str = "notification"
    priority: str = "normal"
    created: str = ""
    read: bool = False
    inbox: str = OVERSEER
    thread: str = ""

    @property
    def head(self) -> str:
        """The protocol word of the subject (ESCALATION, MERGE_FAILED, HELP, ...)."""
        return self.subject.split(" ", 1)[0].rstrip(":").upper()


@dataclass(frozen=True)
class MailSnapshot:
    address: str
    messages: tuple[MailRow, ...] = ()
    unread: int = 0


@dataclass(frozen=True)
class Problem:
    kind: str  # waiting, zombie, gupp, stalled, escalation, merge-failed, help, needs-human
    rank: int  # lower first
    title: str
    detail: str = ""
    since: float | None = None
    polecat: PolecatRow | None = None
    message: MailRow | None = None
    bead: BeadRow | None = None

    @property
    def key(self) -> str:
        if self.polecat is not None:
            return f"polecat:{self.polecat.address}"
        if self.message is not None:
            return f"mail:{self.message.id}"
        if self.bead is not None:
            return f"bead:{self.bead.id}"
        return f"{self.kind}:{self.title}"


@dataclass(frozen=True)
class NudgeReport:
    status: str  # delivered | queued | failed | answered
    detail: str = ""


@dataclass(frozen=True)
class Capabilities:
    features: dict[str, bool] = field(default_factory=dict)
    tmux: bool = False

    def has(self, feature: str) -> bool:
        return self.features.get(feature, False)

    def missing(self) -> list[str]:
        return [FEATURE_LABELS[f] for f, ok in self.features.items() if not ok]


# --------------------------------------------------------------------------------------------
# file changes -> what to re-read
# --------------------------------------------------------------------------------------------

IGNORED_SUFFIXES = (".lock", ".tmp", ".swp", "~")


def watch_filter(root: Path) -> Callable[[Any, str], bool]:
    """A watchfiles filter: only files whose change can alter what the app shows."""
    prefix = str(root.resolve() if root.exists() else root)

    def keep(_change: Any, path: str) -> bool:
        return change_scope(prefix, path) is not None

    return keep


def change_scope(root: str, path: str) -> str | None:
    """What a changed file means to the app, or None to ignore it.

    Scopes: `events`, `config`, `town` (rig registry and convoys), `rig:<name>` (beads and
    polecats), `mail:<address>`, `archive`, `heartbeats`, `nudges`.
    """
    if path.endswith(IGNORED_SUFFIXES):
        return None
    if not path.startswith(root):
        return None
    rel = path[len(root) :].lstrip("/")
    if rel == "events.jsonl":
        return "events"
    if rel == "town.toml":
        return "config"
    parts = rel.split("/")
    name = parts[-1]
    if name.startswith("."):  # temp files of atomic writes, editor droppings
        return None
    if parts[0] == "store" and len(parts) >= 2:
        if rel == "store/town.json":
            return "town"
        if len(parts) == 3 and parts[1] == "rigs" and name.endswith(".json"):
            return f"rig:{name[:-5]}"
        if len(parts) == 3 and parts[1] == "mail" and name.endswith(".json"):
            from gastown_tui.town.paths import decode_address

            return f"mail:{decode_address(name[:-5])}"
        if len(parts) == 3 and parts[1] == "archive":
            return "archive"
        return None
    if parts[0] == ".runtime" and len(parts) >= 3:
        if parts[1] == "heartbeats":
            return "heartbeats"
        if parts[1] == "nudge-queue":
            return "nudges"
    return None


# --------------------------------------------------------------------------------------------
# the adapter
# --------------------------------------------------------------------------------------------


def default_tmux(town: Town) -> TownTmux | None:
    """The town's tmux server handle, or None when tmux is not installed."""
    dispatch = optional_module("gastown_tui.dispatch")
    factory = getattr(dispatch, "tmux_for", None) if dispatch is not None else None
    if callable(factory):
        tmux = factory(town)
    else:
        from gastown_tui.tmux import TownTmux

        tmux = TownTmux(town.paths.tmux_socket, town.paths.locks)
    return tmux if tmux.available() else None


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    """The first present attribute or key of `obj` (backend records are dataclasses or dicts)."""
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj and obj[name] is not None:
                return obj[name]
        elif getattr(obj, name, None) is not None:
            return getattr(obj, name)
    return default


def polecat_from_view(view: Any) -> PolecatRow:
    """Convert a dispatch.observe PolecatView (whatever its exact shape) into a PolecatRow."""
    rig = str(_field(view, "rig", default=""))
    name = str(_field(view, "name", default=""))
    address = str(_field(view, "address", default=f"{rig}/{name}"))
    if not name and "/" in address:
        rig, name = address.split("/", 1)
    hook_obj = _field(view, "hook", "hooked", "bead", "hooked_bead")
    hook: HookedBead | None = None
    if isinstance(hook_obj, str):
        hook = HookedBead(hook_obj, safe(_field(view, "bead_title", default="")))
    elif hook_obj is not None:
        hook = HookedBead(
            str(_field(hook_obj, "id", default="")),
            safe(_field(hook_obj, "title", default="")),
            str(_field(hook_obj, "status", default="hooked")),
        )
    window = _field(view, "window", "window_info")
    pane_id = _field(view, "pane_id", default=None) or (
        _field(window, "pane_id") if window is not None and not isinstance(window, bool) else None
    )
    exists = _field(view, "window_exists", "has_window")
    if exists is None and window is not None:
        exists = bool(window) if isinstance(window, bool) else True
    alive = _field(view, "alive", "window_alive")
    if alive is None and window is not None and not isinstance(window, bool):
        dead = _field(window, "pane_dead")
        alive = None if dead is None else not dead
    activity = _field(view, "last_activity", "activity", "last_activity_at")
    if isinstance(activity, str):
        activity = parse_iso(activity)
    return PolecatRow(
        address=address,
        rig=rig,
        name=name,
        state=str(_field(view, "state", default="idle")),
        runtime=str(_field(view, "runtime", default="")),
        hook=hook,
        window_exists=None if exists is None else bool(exists),
        alive=None if alive is None else bool(alive),
        pane_id=str(pane_id) if pane_id else None,
        last_activity=float(activity) if isinstance(activity, int | float) else None,
        detail=str(_field(view, "detail", "reason", default="")),
        prompt=_field(view, "prompt", default=None),
    )


def mail_row(message: Any) -> MailRow:
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


class TownData:
    """Reads and writes of one town for the app. Thread-safe enough for concurrent readers:
    the store caches parsed files behind a lock and never lends them for mutation."""

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

    # -- what exists ----------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return Capabilities(
            {name: feature_available(name) for name in FEATURES}, tmux=self.tmux is not None
        )

    @property
    def name(self) -> str:
        return self.town.config.name

    @property
    def is_demo(self) -> bool:
        return self.town.config.default_runtime == "demo"

    def runtimes(self) -> list[str]:
        """Runtime names for the sling dialog: the town's default first."""
        presets = optional_module(FEATURES["presets"])
        all_runtimes = getattr(presets, "all_runtimes", None) if presets is not None else None
        if callable(all_runtimes):
            names = sorted(all_runtimes(self.town))
        else:
            names = [*BUILTIN_RUNTIMES, *sorted(self.town.config.runtimes)]
        default = self.town.config.default_runtime
        return [default] + [n for n in dict.fromkeys(names) if n != default]

    def install_hooks(self) -> None:
        """Mail the app sends to a polecat nudges it (or queues the nudge), as `gt mail` does."""
        dispatch = optional_module("gastown_tui.dispatch")
        install = getattr(dispatch, "install_mail_hooks", None) if dispatch else None
        if callable(install):
            install(self.town)

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
        if self._observe_override is not None:
            return list(self._observe_override())
        observe_mod = optional_module(FEATURES["observe"])
        observe = getattr(observe_mod, "observe", None) if observe_mod else None
        if callable(observe) and self.tmux is not None:
            views = observe(self.town, self.tmux, now=self.town.clock.now())
            return with_roles(self.town, [polecat_from_view(v) for v in views])
        return with_roles(self.town, self._polecats_from_store())

    def _polecats_from_store(self) -> list[PolecatRow]:
        """Without tmux (or dispatch.observe): identities and hooks from the store only. The
        window is unknown, so nothing is called a zombie or waiting on a guess."""
        rows: list[PolecatRow] = []
        if feature_available("polecats"):
            pairs = [
                (p.rig, p.name, p.runtime, b.id if b else None, b.title if b else "", b)
                for p, b in self.town.polecats.list_with_hooks()
            ]
        else:
            pairs = []
            for rig in self.town.rigs.names():
                for doc in self.town.rig_file(rig).table("polecats").values():
                    pairs.append(
                        (rig, str(doc["name"]), str(doc.get("runtime", "")), None, "", None)
                    )
        for rig, name, runtime, bead_id, title, bead in pairs:
            hook = HookedBead(bead_id, safe(title), bead.status) if bead_id and bead else None
            rows.append(
                PolecatRow(
                    address=f"{rig}/{name}",
                    rig=rig,
                    name=name,
                    state="working" if hook else "idle",
                    runtime=runtime,
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

    def mark_read(self, message_id: str, address: str) -> None:
        self.town.mail.mark_read(message_id, address)

    def send_mail(
        self, to: list[str], subject: str, body: str, *, priority: str = "normal"
    ) -> list[Any]:
        if not to:
            raise GtError("a message needs at least one recipient")
        return self.town.mail.send(
            to, subject, body, sender=OVERSEER, type="notification", priority=priority
        )

    def reply(self, message_id: str, body: str) -> list[Any]:
        if not body.strip():
            raise GtError("a reply needs some text")
        return self.town.mail.reply(message_id, body, sender=OVERSEER)

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
        agents = optional_module(FEATURES["agents"])
        attach_for = getattr(agents, "attach_for", None) if agents is not None else None
        if callable(attach_for):
            return attach_for(self.town, self.tmux, polecat.address)
        from gastown_tui.tmux import attach_plan

        pane = self.find_pane(polecat)
        if pane is None:
            raise GtError(
                f"{polecat.address} has no window to attach to",
                hint="it is not running; sling it work or restart it",
            )
        return attach_plan(self.tmux, pane)

    @staticmethod
    def run_attach(plan: AttachPlan) -> int:
        from gastown_tui.tmux import run_attach

        return run_attach(plan)

    # -- dispatch -------------------------------------------------------------------------
    def sling(
        self,
        target: str,
        rig: str,
        *,
        runtime: str | None = None,
        convoy: str | None = None,
    ) -> str:
        """Sling a bead id (or new text) onto a polecat of `rig`; returns a summary line."""
        target = (target or "").strip()
        if not target:
            raise GtError("pick a ready bead or type what needs doing")
        if not rig:
            raise GtError("pick a rig to sling onto", hint="add one with `gt rig add`")
        module = optional_module(FEATURES["sling"])
        sling = getattr(module, "sling", None) if module is not None else None
        if not callable(sling):
            raise not_available("sling")
        if self.tmux is None:
            raise GtError("tmux is not installed", hint="polecats run in tmux windows")
        result = sling(self.town, self.tmux, target, rig, runtime=runtime, convoy=convoy)
        return describe_sling(result, target)

    def nudge(self, address: str, message: str) -> NudgeReport:
        if not message.strip():
            raise GtError("a nudge needs a message")
        module = optional_module(FEATURES["nudge"])
        nudge_agent = getattr(module, "nudge_agent", None) if module is not None else None
        if not callable(nudge_agent):
            raise not_available("nudge")
        if self.tmux is None:
            raise GtError("tmux is not installed", hint="agents run in tmux windows")
        outcome = nudge_agent(self.town, self.tmux, address, message, sender=OVERSEER)
        return NudgeReport(
            str(_field(outcome, "status", default="failed")),
            str(_field(outcome, "detail", default="")),
        )

    def answer(self, address: str, choice: str) -> NudgeReport:
        """Pick one choice of the question the agent waits at (dispatch/answer.py)."""
        from gastown_tui.dispatch.answer import answer_agent

        if self.tmux is None:
            raise GtError("tmux is not installed", hint="agents run in tmux windows")
        outcome = answer_agent(self.town, self.tmux, address, choice)
        then = f"; it now waits at: {outcome.next_question}" if outcome.next_question else ""
        return NudgeReport("answered", f"{outcome.choice}. {outcome.label}{then}")

    def create_convoy(self, title: str, bead_ids: Iterable[str]) -> Any:
        ids = list(bead_ids)
        if not ids:
            raise GtError("select beads for the convoy first", hint="space marks a ready bead")
        return self.town.convoys.create(title, ids, owner=OVERSEER)


class Supervision:
    """The app's handle on the supervisor (supervise.host, .lease, .notify): the lease that
    makes one process per town the supervisor, the patrol schedule, and the patrols."""

    def __init__(
        self, town: Town, tmux: TownTmux, notify: Callable[[str, str], None], kind: str = "app"
    ) -> None:
        from gastown_tui.supervise.host import Supervisor
        from gastown_tui.supervise.lease import SupervisorLease
        from gastown_tui.supervise.notify import Notifier

        self.town = town
        self.supervisor = Supervisor(town, tmux, Notifier(tmux, sinks=[notify]))
        self.lease = SupervisorLease(town, kind)

    @staticmethod
    def unavailable(tmux: TownTmux | None) -> str | None:
        """Why this build or machine cannot supervise, or None."""
        if any(optional_module(m) is None for m in SUPERVISOR_MODULES):
            return "supervisor: not available yet"
        if tmux is None:
            return "not supervising: no tmux"
        return None

    def try_acquire(self) -> bool:
        return self.lease.try_acquire()

    def holder(self) -> str:
        """Who supervises while this process does not: "supervised by daemon pid 42"."""
        from gastown_tui.supervise.lease import current_holder

        holder = current_holder(self.town)
        return holder.describe() if holder is not None else "nobody supervises"

    def recover(self) -> list[str]:
        return self.supervisor.recover()

    def due(self, now: float) -> list[Any]:
        return self.supervisor.due(now)

    def next_due_in(self, now: float) -> float:
        return self.supervisor.next_due_in(now)

    def patrols(self) -> list[Any]:
        return self.supervisor.patrols()

    def run(self, patrol: Any) -> Any:
        """Run one patrol (its failure is caught and recorded by the supervisor)."""
        return self.supervisor.run(patrol)

    def publish(self) -> None:
        """What each patrol last did, for viewers (`gt status`, a second app)."""
        self.lease.write_status(self.supervisor.status())

    def release(self) -> None:
        self.supervisor.notify_router.close(timeout=2.0)  # send what is claimed before going
        self.lease.release()


def describe_sling(result: Any, target: str) -> str:
    bead = _field(result, "bead_id", "bead")
    if bead is not None and not isinstance(bead, str):
        bead = _field(bead, "id")
    polecat = _field(result, "address", "polecat", "agent")
    if polecat is not None and not isinstance(polecat, str):
        polecat = _field(polecat, "address", "name")
    convoy = _field(result, "convoy_id", "convoy")
    if convoy is not None and not isinstance(convoy, str):
        convoy = _field(convoy, "id")
    if bead or polecat:
        text = f"slung {bead or target} onto {polecat or 'a polecat'}"
        return text + (f" (convoy {convoy})" if convoy else "")
    return str(result) if result is not None else f"slung {target}"


# --------------------------------------------------------------------------------------------
# problems: a pure function of what the app already holds
# --------------------------------------------------------------------------------------------

_STATE_RANK = {"waiting": 0, "zombie": 1, "gupp": 2, "stalled": 4}
_STATE_TITLES = {
    "waiting": "waiting for you",
    "zombie": "dead with work on its hook",
    "gupp": "ignoring its hook (GUPP)",
    "stalled": "stalled",
}


def find_problems(
    polecats: Iterable[PolecatRow],
    overseer_mail: Iterable[MailRow],
    beads: Iterable[BeadRow],
) -> list[Problem]:
    """Everything that needs a person, most urgent first."""
    out: list[Problem] = []
    for pole in polecats:
        if pole.state not in _STATE_RANK:
            continue
        hook = f"{pole.hook.id} {pole.hook.title}".strip() if pole.hook else ""
        out.append(
            Problem(
                pole.state,
                _STATE_RANK[pole.state],
                f"{pole.address} {_STATE_TITLES[pole.state]}",
                pole.detail or hook,
                pole.last_activity,
                polecat=pole,
            )
        )
    for message in overseer_mail:
        if message.read:
            continue
        head = message.head
        if message.type == "escalation" or head in ("ESCALATION", "ESCALATE"):
            kind, rank = "escalation", 1
        elif head == "MERGE_FAILED":
            kind, rank = "merge-failed", 3
        elif head == "HELP":
            kind, rank = "help", 2
        elif message.priority == "urgent":
            kind, rank = "urgent", 3
        else:
            continue
        out.append(
            Problem(
                kind,
                rank,
                f"{message.sender}: {message.subject}",
                message.body.strip().splitlines()[0] if message.body.strip() else "",
                parse_iso(message.created),
                message=message,
            )
        )
    for bead in beads:
        if NEEDS_HUMAN_LABEL in bead.labels and bead.status != "closed":
            out.append(
                Problem(
                    "needs-human",
                    5,
                    f"{bead.id} needs a person",
                    bead.title,
                    parse_iso(bead.created_at),
                    bead=bead,
                )
            )
    # Within a rank, whoever has waited longest comes first.
    out.sort(key=lambda p: (p.rank, p.since if p.since is not None else float("inf"), p.title))
    return out


def with_roles(town: Any, rows: list[PolecatRow]) -> list[PolecatRow]:
    """The role each polecat records (its `role` key), for the Rigs tree's role groups."""
    from dataclasses import replace

    roles: dict[str, str] = {}
    for rig in town.rigs.names():
        for doc in town.rig_file(rig).table("polecats").values():
            if doc.get("role"):
                roles[f"{rig}/{doc['name']}"] = str(doc["role"])
    if not roles:
        return rows
    return [replace(r, role=roles[r.address]) if r.address in roles else r for r in rows]
