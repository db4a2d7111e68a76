"""GUPP from the agent's side: what is on my hook (`gt hook`), what do I do (`gt prime`), and
I am finished (`gt done`). No tmux here: agents call these through the `gt` CLI many times an
hour, and the demo agent reads its hook through the very same functions.

Also the queued-nudge files (`.runtime/nudge-queue/<agent>/<ts>-<rand>.json`): the dispatch
layer writes them when an agent is busy, and `gt prime` shows (and so delivers) them.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from gastown_tui.town import git as gitcmd
from gastown_tui.town import jsoncodec
from gastown_tui.town.clock import iso
from gastown_tui.town.display import safe, safe_lines
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.ids import random_suffix
from gastown_tui.town.models import Bead, Comment, Record
from gastown_tui.town.paths import encode_address
from gastown_tui.town.polecats import Polecat, hooked_docs, split_address
from gastown_tui.town.storage.files import atomic_write_bytes, flocked

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.town import Town

DONE_STATUSES = ("completed", "escalated", "deferred")
# Never committed by `gt done`: runtime settings the town installs in a worktree.
TOWN_EXCLUDES = (".claude/settings.local.json",)


# -- the hook ---------------------------------------------------------------------------------
def hooked_bead(town: Town, address: str) -> Bead | None:
    """The bead on `address`'s hook: its rig's bead assigned to it, hooked or in progress."""
    return town.polecats.hooked(address)


def hook_info(town: Town, address: str) -> dict[str, Any]:
    """`gt hook --json`: {agent, bead (full dict or null), worktree, branch}."""
    polecat = town.polecats.find(address)
    bead = hooked_bead(town, address)
    return {
        "agent": address,
        "bead": bead.to_dict() if bead else None,
        "worktree": polecat.worktree if polecat else None,
        "branch": polecat.branch if polecat else None,
    }


# -- git on the polecat's behalf --------------------------------------------------------------
def polecat_identity(address: str) -> dict[str, str]:
    """Commit author and committer for a polecat: `furiosa <furiosa@alpha.gastown.local>`."""
    rig, name = split_address(address)
    email = f"{name}@{rig}.gastown.local"
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def _git_as(address: str, args: list[str], cwd: Path, check: bool = True) -> Any:
    import subprocess

    env = {**gitcmd.git_env(), **polecat_identity(address)}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise GtFailure(
            f"`git {' '.join(args[:2])}` failed in {cwd}: {detail[-1] if detail else '?'}"
        )
    return proc


def is_git_worktree(path: Path) -> bool:
    return (path / ".git").exists()


def commit_all(address: str, worktree: Path, message: str) -> str | None:
    """Commit everything uncommitted in `worktree` as the polecat. Returns the new commit, or
    None when there was nothing to commit. Never discards anything."""
    if not is_git_worktree(worktree):
        return None
    if not gitcmd.is_dirty(worktree):
        return None
    _git_as(address, ["add", "-A"], worktree)
    proc = _git_as(address, ["commit", "-q", "--no-verify", "-m", message], worktree, check=False)
    if proc.returncode != 0 and gitcmd.is_dirty(worktree):
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise GtFailure(f"could not commit the work in {worktree}: {detail[-1] if detail else '?'}")
    return gitcmd.head_commit(worktree)


def ensure_excluded(worktree: Path, patterns: tuple[str, ...] = TOWN_EXCLUDES) -> None:
    """Add `patterns` to the repository's info/exclude (shared by all its worktrees)."""
    proc = gitcmd.git(["rev-parse", "--git-path", "info/exclude"], cwd=worktree, check=False)
    if proc.returncode != 0:
        return
    exclude = Path(proc.stdout.strip())
    if not exclude.is_absolute():
        exclude = worktree / exclude
    exclude.parent.mkdir(parents=True, exist_ok=True)
    # Slings run in parallel threads and processes: append under a lock, never twice.
    with flocked(exclude.with_name(".gt-exclude.lock")):
        try:
            lines = exclude.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        missing = [p for p in patterns if p not in lines]
        if missing:
            with open(exclude, "a", encoding="utf-8") as handle:
                if lines and lines[-1] != "":
                    handle.write("\n")
                handle.write("\n".join(missing) + "\n")


# -- queued nudges ----------------------------------------------------------------------------
class QueuedNudge(Record):
    """A Record, not a dataclass (town/models.py says why); read-only by convention."""

    __slots__ = ("path", "queued_at", "sender", "text")

    def __init__(self, path: Path, text: str, sender: str, queued_at: str) -> None:
        self.path = path
        self.text = text
        self.sender = sender
        self.queued_at = queued_at


def queue_nudge(town: Town, address: str, text: str, sender: str | None = None) -> QueuedNudge:
    """Store a nudge for later delivery, atomically. Names sort oldest first."""
    folder = town.paths.nudge_queue(address)
    folder.mkdir(parents=True, exist_ok=True)
    now = town.clock.now()
    stamp = f"{int(time.time() * 1_000_000):017d}"
    path = folder / f"{stamp}-{random_suffix(6)}.json"
    doc = {"agent": address, "text": text, "sender": sender or town.actor, "queued_at": iso(now)}
    atomic_write_bytes(path, jsoncodec.dumps(doc))
    return QueuedNudge(path, text, doc["sender"], doc["queued_at"])


def queued_nudges(town: Town, address: str) -> list[QueuedNudge]:
    """Queued nudges of `address`, oldest first. Unreadable files are skipped, not lost."""
    folder = town.paths.nudge_queue(address)
    if not folder.is_dir():
        return []
    out: list[QueuedNudge] = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            doc = jsoncodec.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        out.append(
            QueuedNudge(
                path, str(doc.get("text", "")), str(doc.get("sender", "")), doc.get("queued_at", "")
            )
        )
    return out


def nudge_queue_lock(town: Town, address: str) -> Path:
    return town.paths.lock(f"nudge-queue~{encode_address(address)}")


def take_queued_nudges(town: Town, address: str) -> list[QueuedNudge]:
    """Remove and return every queued nudge (they are delivered by being shown)."""
    with flocked(nudge_queue_lock(town, address)):
        nudges = queued_nudges(town, address)
        for nudge in nudges:
            with contextlib.suppress(FileNotFoundError):
                nudge.path.unlink()
    return nudges


# -- prime ------------------------------------------------------------------------------------
def _unread(town: Town, address: str) -> int | None:
    try:
        return town.mail.unread_count(address)
    except ImportError:  # mail not installed in this build
        return None


def bead_text(bead: Bead) -> list[str]:
    # Shown by `gt prime` in an agent's pane: stored text is escaped (town/display.py), or
    # a description's OSC sequence would retitle the pane.
    lines = [safe(f"{bead.id}  {bead.title}")]
    meta = f"  rig {bead.rig} · P{bead.priority} · {bead.type} · {bead.status}"
    if bead.labels:
        meta += " · labels: " + ", ".join(bead.labels)
    lines.append(safe(meta))
    for dep in bead.deps:
        lines.append(safe(f"  depends on {dep.on} ({dep.type})"))
    if bead.description.strip():
        lines += ["", safe_lines(bead.description.rstrip())]
    for comment in bead.comments:
        lines += [
            "",
            safe(f"-- {comment.author} at {comment.created_at}"),
            safe_lines(comment.text.rstrip()),
        ]
    return lines


def prime_text(town: Town, address: str) -> str:
    """Everything an agent needs to (re)start: role, hook in full, rules, mail, nudges.

    Showing queued nudges here delivers them, so they are removed.
    """
    rig, _ = split_address(address)
    polecat = town.polecats.find(address)
    if polecat is None:
        raise GtError(f"unknown agent {address!r}", hint="GT_AGENT / --agent must name a polecat")
    bead = hooked_bead(town, address)
    out = [
        f"[GAS TOWN] You are {address}, a polecat (worker agent) of rig {rig} in town {town.name}.",
    ]
    if polecat.worktree:
        where = f"Your worktree: {polecat.worktree}"
        if polecat.branch:
            where += f" (branch {polecat.branch})"
        out.append(where)
    rig_record = town.rigs.get(rig) if town.rigs.exists(rig) else None
    if rig_record is not None and not rig_record.git:
        out.append(f"The rig is a plain directory (no git): {rig_record.path}")
    out.append("")
    if bead is None:
        out += [
            "== Your hook ==",
            "Nothing is on your hook. Check your mail (gt mail inbox); wait for work.",
        ]
    else:
        out += ["== Your hook ==", *bead_text(bead)]
    out += coordination_lines(town, address, bead)
    out += [
        "",
        "== The rules (GUPP: if there is work on your hook, you run it) ==",
        "1. Work on it now; do not wait to be asked.",
        "2. Commit as you go, in your worktree, on your branch.",
        "3. Finish with `gt done` (or `gt done --status deferred -m WHY`,"
        " `gt done --status escalated -m WHY`).",
        f"4. Ask with `gt mail send {rig}/witness -s SUBJECT -m TEXT`"
        " or `gt escalate -s SUBJECT -m TEXT`.",
    ]
    unread = _unread(town, address)
    if unread is not None:
        out += [
            "",
            "== Mail ==",
            f"{unread} unread message{'s' if unread != 1 else ''}"
            + (" — read them with `gt mail inbox`." if unread else "."),
        ]
    nudges = take_queued_nudges(town, address)
    if nudges:
        out += ["", "== Nudges queued for you =="]
        out += [safe(f"- from {n.sender} at {n.queued_at}: {n.text}") for n in nudges]
    return "\n".join(out) + "\n"


def coordination_lines(town: Town, address: str, bead: Bead | None) -> list[str]:
    """The role's directive and what earlier formula steps handed over (town/roles.py,
    town/formulas.py): only for agents and beads that have them, and only those import the
    modules (`gt prime` runs at every agent start; formulas.py alone is ~3 ms to import)."""
    lines: list[str] = []
    polecat = town.polecats.find(address)
    if polecat is not None and polecat.extra.get("role"):  # what roles.role_of_agent reads
        from gastown_tui.town.roles import prime_lines

        lines += prime_lines(town, address)
    if bead is not None and any(dep.type == "blocks" for dep in bead.deps):  # formulas.handoffs
        from gastown_tui.town.formulas import handoff_lines

        lines += handoff_lines(town, bead)
    return lines


# -- done -------------------------------------------------------------------------------------
class DoneResult(Record):
    __slots__ = (
        "agent",
        "bead",
        "bead_status",
        "branch",
        "commit",
        "history",
        "merge_request",
        "saved_commit",
        "status",
    )

    def __init__(
        self,
        agent: str,
        bead: str,
        status: str,
        bead_status: str,
        branch: str | None,
        commit: str | None,
        saved_commit: str | None,  # the commit gt done made of uncommitted work, if any
        merge_request: str | None,
        history: dict[str, Any] | None = None,
    ) -> None:
        self.agent = agent
        self.bead = bead
        self.status = status
        self.bead_status = bead_status
        self.branch = branch
        self.commit = commit
        self.saved_commit = saved_commit
        self.merge_request = merge_request
        self.history: dict[str, Any] = {} if history is None else history

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "bead": self.bead,
            "status": self.status,
            "bead_status": self.bead_status,
            "branch": self.branch,
            "commit": self.commit,
            "saved_commit": self.saved_commit,
            "merge_request": self.merge_request,
        }


def _new_mr_id(taken: set[str]) -> str:
    for _ in range(1000):
        candidate = f"mr-{random_suffix(5)}"
        if candidate not in taken:
            return candidate
    raise GtFailure("could not find a free merge request id")


def _collect_usage(town: Town) -> None:
    """Read the agent programs' transcripts (town/transcripts.py); accounting never blocks."""
    from gastown_tui.town.transcripts import collect

    try:
        collect(town)
    except OSError:
        pass


def complete(town: Town, address: str, status: str = "completed", note: str = "") -> DoneResult:
    """`gt done`: save the work, record the result, free the polecat.

    1. commit ANY uncommitted work in the worktree (as the polecat): never lose work;
    2. ONE rig transaction: the bead closes (completed) or goes back to open and unassigned
       with a comment (deferred/escalated); a merge request row for the refinery (completed
       work on a branch); the polecat becomes idle with a history entry;
    3. event `polecat.done`, and `beads_closed` so convoys can land.
    """
    if status not in DONE_STATUSES:
        raise GtError(f"unknown done status {status!r}", hint="one of " + ", ".join(DONE_STATUSES))
    rig, name = split_address(address)
    polecat = town.polecats.find(address)
    if polecat is None:
        raise GtError(f"unknown agent {address!r}", hint="gt done must run as a polecat")
    bead = hooked_bead(town, address)
    if bead is None:
        raise GtError(
            f"nothing is on {address}'s hook", hint="check with `gt hook`; nothing was changed"
        )
    note = (note or "").strip()
    _collect_usage(town)  # the program's tokens so far count against this bead
    worktree = Path(polecat.worktree) if polecat.worktree else None
    saved: str | None = None
    commit: str | None = None
    branch: str | None = None
    if worktree is not None and is_git_worktree(worktree):
        ensure_excluded(worktree)
        saved = commit_all(
            address, worktree, f"{bead.id}: {bead.title}\n\nUncommitted work saved by gt done."
        )
        commit = gitcmd.head_commit(worktree)
        branch = gitcmd.current_branch(worktree) or polecat.branch

    now = iso(town.clock.now())
    closed: Bead | None = None
    mr_id: str | None = None
    with town.beads.rig_txn(rig) as tx:
        current = tx.get_bead(bead.id)
        if current is None or hooked_docs([current.to_dict()]).get(address) is None:
            raise GtError(f"{bead.id} is no longer on {address}'s hook; nothing was changed")
        current.updated_at = now
        if status == "completed":
            current.status = "closed"
            current.close_reason = note or "done"
            current.closed_at = now
            closed = current
        else:
            current.status = "open"
            current.assignee = None
            current.closed_at = None
            text = f"{status.upper()} by {address}: {note or 'no note given'}"
            if commit:
                text += f"\n\nwork so far: branch {branch} at {commit[:12]}"
            current.comments.append(Comment(address, now, text))
        tx.put_bead(current)
        record = current.to_dict()
        if status == "completed" and branch and commit:
            taken = {str(d.get("id")) for d in tx.merge_requests()}
            mr_id = _new_mr_id(taken)
            tx.add_merge_request(
                {
                    "id": mr_id,
                    "bead": bead.id,
                    "branch": branch,
                    "commit": commit,
                    "polecat": address,
                    "rig": rig,
                    "created": now,
                    "status": "pending",
                }
            )
        doc = tx.get_polecat(name) or polecat.to_dict()
        # Not `record`, which is the bead's doc that the events below carry for `gt doctor`
        # (town/backup.py): a Polecat there was serialised only while it was a dataclass.
        freed = Polecat.from_dict(doc)
        history = freed.release(bead.id, status, now, commit)
        tx.put_polecat(freed.to_dict())

    msg = f"{bead.id} {status}" + (f": {note}" if note else "")
    town.events.append(
        "polecat.done",
        actor=address,
        rig=rig,
        bead=bead.id,
        msg=msg,
        status=status,
        commit=commit,
        branch=branch,
        merge_request=mr_id,
        **({} if closed is not None else {"record": record}),
    )
    if closed is not None:
        town.events.append(
            "bead.closed",
            actor=address,
            rig=rig,
            bead=bead.id,
            msg=closed.close_reason,
            record=record,
        )
        town.beads_closed([closed])
    return DoneResult(
        agent=address,
        bead=bead.id,
        status=status,
        bead_status="closed" if closed else "open",
        branch=branch,
        commit=commit,
        saved_commit=saved,
        merge_request=mr_id,
        history=history,
    )


def agent_from_env(explicit: str | None = None) -> str | None:
    """The calling agent: --agent, else GT_AGENT."""
    return (explicit or os.environ.get("GT_AGENT") or "").strip() or None
