"""Merge requests as a person sees them: listed, shown, approved, sent back or rejected.

`gt done` records one row per finished branch in its rig's file (table `merge_requests`,
written by town/work.py `complete`); the refinery (supervise/refinery.py) merges them. This
module is the review side, with no tmux and no merging: it checks a decision against the
request and its branch and records it, or raises a GtError and changes nothing.

Row keys (plain dict; new keys may be added, none renamed): id, bead, branch, commit, polecat,
rig, created, status ("pending" | "merged" | "failed" | "rejected" | "changes_requested" |
"pushed"), and as they happen: approved_by/approved_at/approved_commit, verifying (while the
refinery runs it), attempts, verify_log, failure/detail/at, merged_commit/merged_at,
reviewed_by/reviewed_at/comment, pr_url/pushed_branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town import git
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import Comment

if TYPE_CHECKING:
    from gastown_tui.town.storage.base import RigTxn
    from gastown_tui.town.town import Town

OPEN_STATUSES = ("pending",)
FINAL_STATUSES = ("merged", "rejected", "pushed")
# States shown in the merge queue, in the order a request passes through them.
STATES = (
    "review",
    "queued",
    "verifying",
    "conflict",
    "failed",
    "changes",
    "rejected",
    "pushed",
    "merged",
)


def live_log_path(town: Town, mr_id: str) -> Path:
    """Where the refinery writes a verify's output while it runs (supervise/refinery.py), so
    the app's review and merge queue can show it as it comes (the stored `verify_log` is only
    written at the end)."""
    return town.paths.runtime / "verify" / f"{mr_id}.log"


def read_live_log(town: Town, mr_id: str, tail: int = 8000) -> str:
    try:
        with live_log_path(town, mr_id).open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - tail))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def requires_review(town: Town, rig: str) -> bool:
    return town.config.refinery_for(rig).require_review


def state_of(doc: dict[str, Any], require_review: bool) -> str:
    """One word for the queue: review, queued, verifying, conflict, failed, changes, …"""
    status = str(doc.get("status") or "pending")
    if status == "pending":
        if doc.get("verifying"):
            return "verifying"
        if require_review and not doc.get("approved_at"):
            return "review"
        return "queued"
    if status == "failed":
        return "conflict" if doc.get("failure") == "conflict" else "failed"
    if status == "changes_requested":
        return "changes"
    return status


@dataclass
class MergeRequest:
    doc: dict[str, Any]
    state: str

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def rig(self) -> str:
        return str(self.doc.get("rig") or "")

    def to_dict(self) -> dict[str, Any]:
        return {**self.doc, "state": self.state}


@dataclass
class BranchDiff:
    """What a review shows: the commits and files of `base..head`, and the diff text."""

    base: str
    head: str
    commits: list[tuple[str, str]]  # (short sha, subject), oldest first
    files: list[tuple[str, int, int]]  # (path, added, deleted)
    diff: str


class MergeRequests:
    def __init__(self, town: Town) -> None:
        self.town = town

    # reading ---------------------------------------------------------------------------------
    def list(self, rig: str | None = None, include_done: bool = True) -> list[MergeRequest]:
        """Requests in queue order: open ones first (bead priority, then age), then the rest,
        newest first."""
        out: list[MergeRequest] = []
        for name in [rig] if rig else self.town.rigs.names():
            review = requires_review(self.town, name)
            for doc in self.town.storage.merge_requests.docs(name):
                doc = dict(doc)
                doc.setdefault("rig", name)
                out.append(MergeRequest(doc, state_of(doc, review)))
        beads = self.town.beads.get_many(str(m.doc.get("bead")) for m in out if m.doc.get("bead"))

        def order(mr: MergeRequest) -> tuple[int, int, str]:
            bead = beads.get(mr.doc.get("bead"))
            open_ = mr.doc.get("status") == "pending"
            created = str(mr.doc.get("created") or "")
            if open_:
                return (0, bead.priority if bead else 2, created)
            # finished: newest first (invert the text for a stable descending sort)
            return (1, 0, "".join(chr(0x10FFFF - ord(c)) for c in created))

        out.sort(key=order)
        if not include_done:
            out = [m for m in out if m.doc.get("status") == "pending"]
        return out

    def get(self, mr_id: str) -> MergeRequest:
        wanted = (mr_id or "").strip().lower()
        if not wanted:
            raise GtError("no merge request id given", hint="list them with `gt mr list`")
        every = self.list()
        for mr in every:
            if mr.id == wanted:
                return mr
        hint = "list them with `gt mr list`"
        close = [m.id for m in every if m.id.startswith(wanted) or wanted in m.id]
        if close:
            hint = f"did you mean {close[0]}? " + hint
        raise GtError(f"no merge request {mr_id!r}", hint=hint)

    def for_bead(self, bead_id: str) -> MergeRequest | None:
        found = [m for m in self.list() if m.doc.get("bead") == bead_id]
        return found[0] if found else None

    def repo(self, mr: MergeRequest) -> Path:
        rig = self.town.rigs.get(mr.rig)
        if not rig.git:
            raise GtError(f"rig {mr.rig} has no git repository; nothing to review")
        return Path(rig.path)

    def branch_head(self, mr: MergeRequest) -> str | None:
        """Where the request's branch points now (None when it was deleted)."""
        return git.head_commit(self.repo(mr), f"refs/heads/{mr.doc.get('branch')}")

    def diff(self, mr: MergeRequest) -> BranchDiff:
        rig = self.town.rigs.get(mr.rig)
        if mr.doc.get("merged_onto") and mr.doc.get("merged_commit"):
            # Landed: main holds the commits now; show what the merge added.
            onto, merged = str(mr.doc["merged_onto"]), str(mr.doc["merged_commit"])
            return branch_diff(self.repo(mr), onto, merged)
        return branch_diff(self.repo(mr), rig.branch or "main", str(mr.doc["commit"]))

    # deciding --------------------------------------------------------------------------------
    def _open(self, mr: MergeRequest, action: str) -> None:
        status = str(mr.doc.get("status") or "pending")
        if status == "merged":
            raise GtError(f"{mr.id} is already merged; there is nothing to {action}")
        if status == "rejected":
            raise GtError(f"{mr.id} was rejected; there is nothing to {action}")
        if status == "pushed":
            raise GtError(f"{mr.id} was pushed for a pull request; {action} it there")
        if status != "pending":
            raise GtError(
                f"{mr.id} is {status.replace('_', ' ')}; there is nothing to {action}",
                hint="the polecat's next `gt done` records a new request",
            )
        if mr.doc.get("verifying"):
            raise GtError(f"{mr.id} is being merged by the refinery right now")

    def check_commit(self, mr: MergeRequest, commit: str | None) -> None:
        """The request must still be what the reviewer saw: the commit given (`--commit`)
        is the request's, and its branch has not moved on since `gt done` recorded it."""
        recorded = str(mr.doc.get("commit") or "")
        if commit is not None:
            given = commit.strip().lower()
            if len(given) < 7 or not recorded.startswith(given):
                raise GtError(
                    f"{mr.id} is at {recorded[:10]}, not {commit!r}: it changed since you "
                    "reviewed it",
                    hint=f"review it again with `gt mr show {mr.id}`",
                )
        head = self.branch_head(mr)
        if head is not None and head != recorded:
            raise GtError(
                f"branch {mr.doc.get('branch')} moved to {head[:10]} since {mr.id} was recorded "
                f"at {recorded[:10]}",
                hint="review the new commits; the polecat's next `gt done` records a new request",
            )

    def approve(self, mr_id: str, by: str, commit: str | None = None) -> MergeRequest:
        mr = self.get(mr_id)
        self._open(mr, "approve")
        self.check_commit(mr, commit)
        now = iso(self.town.clock.now())
        fields = {"approved_by": by, "approved_at": now, "approved_commit": mr.doc["commit"]}
        self._update(mr, fields)
        self.town.events.append(
            "mr.approved", actor=by, rig=mr.rig, bead=mr.doc.get("bead"),
            msg=f"{mr.id} approved ({mr.doc.get('branch')})", mr=mr.id,
        )  # fmt: skip
        return self.get(mr.id)

    def request_changes(self, mr_id: str, by: str, comment: str) -> MergeRequest:
        """Back to the polecat: the request closes, the bead reopens with the comment (label
        `rework`, the branch in its metadata), like a failed merge (supervise/refinery.py).
        The caller mails and nudges the polecat (the dispatch layer owns nudges)."""
        text = (comment or "").strip()
        if not text:
            raise GtError("the comment is empty", hint="say what to change: -m TEXT")
        mr = self.get(mr_id)
        self._open(mr, "send back")
        now = iso(self.town.clock.now())
        bead_id = str(mr.doc.get("bead"))
        note = f"REWORK requested by {by} on {mr.doc.get('branch')}: {text}"
        with self.town.beads.rig_txn(mr.rig) as tx:
            self._update_in(tx, mr.id, {
                "status": "changes_requested", "reviewed_by": by, "reviewed_at": now,
                "comment": text,
            })  # fmt: skip
            bead = tx.get_bead(bead_id)
            if bead is not None:
                bead.status, bead.assignee, bead.closed_at = "open", None, None
                bead.close_reason = ""
                bead.updated_at = now
                bead.labels = sorted({*bead.labels, "rework"})
                bead.metadata["rework"] = {
                    "branch": mr.doc.get("branch"), "commit": mr.doc.get("commit"),
                    "polecat": mr.doc.get("polecat"),
                }  # fmt: skip
                bead.comments.append(Comment(by, now, note))
                tx.put_bead(bead)
        self.town.events.append(
            "mr.changes_requested", actor=by, rig=mr.rig, bead=bead_id, msg=note, mr=mr.id
        )
        return self.get(mr.id)

    def reject(self, mr_id: str, by: str, reason: str = "") -> MergeRequest:
        """Not merged, ever: the bead goes back to ready (open, unassigned), the branch is
        kept (named in the bead's metadata and a comment)."""
        mr = self.get(mr_id)
        self._open(mr, "reject")
        now = iso(self.town.clock.now())
        bead_id = str(mr.doc.get("bead"))
        note = f"merge request {mr.id} rejected by {by}" + (f": {reason.strip()}" if reason else "")
        kept = f"{mr.doc.get('branch')} at {str(mr.doc.get('commit'))[:12]}"
        note += f"\n\nthe work is kept on branch {kept}"
        with self.town.beads.rig_txn(mr.rig) as tx:
            self._update_in(tx, mr.id, {
                "status": "rejected", "reviewed_by": by, "reviewed_at": now,
                "comment": reason.strip(),
            })  # fmt: skip
            bead = tx.get_bead(bead_id)
            if bead is not None:
                bead.status, bead.assignee, bead.closed_at = "open", None, None
                bead.close_reason = ""
                bead.updated_at = now
                bead.metadata["rejected"] = {
                    "branch": mr.doc.get("branch"), "commit": mr.doc.get("commit"), "mr": mr.id,
                }  # fmt: skip
                bead.comments.append(Comment(by, now, note))
                tx.put_bead(bead)
        self.town.events.append(
            "mr.rejected", actor=by, rig=mr.rig, bead=bead_id, msg=note.splitlines()[0], mr=mr.id
        )
        return self.get(mr.id)

    # writing ---------------------------------------------------------------------------------
    def _update(self, mr: MergeRequest, fields: dict[str, Any]) -> None:
        with self.town.beads.rig_txn(mr.rig) as tx:
            self._update_in(tx, mr.id, fields)

    @staticmethod
    def _update_in(tx: RigTxn, mr_id: str, fields: dict[str, Any]) -> None:
        tx.update_merge_request(mr_id, fields)


def branch_diff(repo: Path, base: str, head: str, context: int = 3) -> BranchDiff:
    """Commits, files and the unified diff of `head` against its merge base with `base`."""
    merge_base = git.git(["merge-base", base, head], cwd=repo, check=False).stdout.strip() or base
    log = git.git(
        ["log", "--reverse", "--format=%h%x00%s", f"{merge_base}..{head}"], cwd=repo, check=False
    ).stdout
    commits = [tuple(line.split("\0", 1)) for line in log.splitlines() if "\0" in line]
    numstat = git.git(["diff", "--numstat", merge_base, head], cwd=repo, check=False).stdout
    files: list[tuple[str, int, int]] = []
    for line in numstat.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3:
            added = int(parts[0]) if parts[0].isdigit() else 0
            deleted = int(parts[1]) if parts[1].isdigit() else 0
            files.append((parts[2], added, deleted))
    diff = git.git(
        ["diff", f"-U{context}", "--no-color", "--no-ext-diff", merge_base, head],
        cwd=repo,
        check=False,
    ).stdout
    return BranchDiff(merge_base, head, [(c[0], c[1]) for c in commits], files, diff)
