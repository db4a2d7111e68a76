"""The refinery of one rig: merges finished polecat branches into the rig's main branch.

`gt done` records a merge request (branch, head commit, bead). Each patrol takes the pending
ones by bead priority, then age, and for each: rebases a copy of the branch onto main in the
refinery's own scratch worktree, runs the rig's verify command (town.toml `[refinery] verify`
or `[rigs.<rig>] verify`, with a timeout), and fast-forwards main. A conflict or a failing
verify reopens the bead with a REWORK note and mails the polecat (REWORK_REQUEST); after
`max_attempts` failures of one bead it escalates (MERGE_FAILED) to the witness and the
overseer. The polecat's own branch is never rewritten or deleted: commits are never lost.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town import git
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.merge_requests import live_log_path
from gastown_tui.town.models import Comment
from gastown_tui.town.storage.files import flocked
from gastown_tui.town.worktrees import worktree_lock

if TYPE_CHECKING:
    from gastown_tui.town.config import RefinerySection
    from gastown_tui.town.models import Rig
    from gastown_tui.town.town import Town

OUTPUT_TAIL = 2000


@dataclass
class MergeOutcome:
    mr: str
    bead: str
    status: str  # merged | conflict | verify_failed | retry
    detail: str
    commit: str | None = None

    def describe(self) -> str:
        return f"{self.mr} ({self.bead}): {self.status}" + (
            f": {self.detail}" if self.detail else ""
        )


class Refinery:
    def __init__(
        self, town: Town, rig: str, notify: Callable[[str, str], None] | None = None
    ) -> None:
        self.town = town
        self.rig = rig
        self.address = f"{rig}/refinery"
        self.notify = notify or (lambda text, severity="warning": None)

    @property
    def scratch(self) -> Path:
        return self.town.paths.rig_dir(self.rig) / "refinery"

    def pending(self) -> list[dict[str, Any]]:
        docs = self.town.storage.merge_requests.docs(self.rig)
        waiting = [dict(d) for d in docs if d.get("status") == "pending"]
        if self.town.config.refinery_for(self.rig).require_review:
            # [refinery] require_review: held until a person approves (town/merge_requests.py)
            waiting = [d for d in waiting if d.get("approved_at")]
        beads = self.town.beads.get_many(d["bead"] for d in waiting)

        def order(mr: dict[str, Any]) -> tuple[int, str]:
            bead = beads.get(mr["bead"])
            return (bead.priority if bead else 2, str(mr.get("created") or ""))

        return sorted(waiting, key=order)

    def patrol(self, now: float | None = None) -> list[str]:
        rig = self.town.rigs.get(self.rig)
        if not rig.git:
            return []
        actions = []
        with flocked(self.lock):
            for mr in self.pending():
                outcome = self.merge_marked(rig, mr)
                actions.append(outcome.describe())
                if outcome.status == "retry":
                    break  # main moved under us or the repo is busy: try again next patrol
        return actions

    @property
    def lock(self) -> Path:
        """One merge at a time per rig: the patrol and `gt mr approve` share the scratch."""
        return self.town.paths.lock(f"refinery~{self.rig}")

    def merge_now(self, mr_id: str) -> MergeOutcome | None:
        """Merge one approved request at once (`gt mr approve`), if it is still pending."""
        rig = self.town.rigs.get(self.rig)
        if not rig.git:
            return None
        with flocked(self.lock):
            for mr in self.pending():
                if mr.get("id") == mr_id:
                    return self.merge_marked(rig, mr)
        return None

    def merge_marked(self, rig: Rig, mr: dict[str, Any]) -> MergeOutcome:
        """`merge`, with the request marked `verifying` meanwhile and its attempts counted
        (the app's merge queue shows both)."""
        mr_id = str(mr["id"])
        self._record(mr_id, verifying=True, attempts=int(mr.get("attempts") or 0) + 1)
        try:
            return self.merge(rig, mr)
        finally:
            self._record(mr_id, verifying=False)

    # one merge -----------------------------------------------------------------------------
    def _prepare_scratch(self, repo: Path, main: str) -> Path:
        """The refinery's own worktree: ours alone, so it may be reset freely."""
        scratch = self.scratch
        if not (scratch / ".git").exists():
            # Same lock as sling's worktree adds: concurrent adds in one repo break git.
            with flocked(worktree_lock(self.town, self.rig)):
                with contextlib.suppress(GtFailure):
                    git.git(["worktree", "prune"], cwd=repo)
                git.git(["worktree", "add", "--force", "--detach", str(scratch), main], cwd=repo)
        else:
            with contextlib.suppress(GtFailure):
                git.git(["rebase", "--abort"], cwd=scratch)
            git.git(["reset", "--hard", "--quiet"], cwd=scratch)
            git.git(["clean", "-fdxq"], cwd=scratch)
        return scratch

    def merge(self, rig: Rig, mr: dict[str, Any]) -> MergeOutcome:
        repo, main = Path(rig.path), rig.branch or "main"
        settings = self.town.config.refinery_for(self.rig)
        mr_id, bead_id = str(mr["id"]), str(mr["bead"])
        if git.head_commit(repo, str(mr["commit"])) is None:
            return self._failed(mr, "verify_failed", f"commit {mr['commit']} is missing", settings)
        scratch = self._prepare_scratch(repo, main)
        work_branch = f"refinery/{mr_id}"
        git.git(["checkout", "--quiet", "-B", work_branch, str(mr["commit"])], cwd=scratch)
        rebase = git.git(["rebase", "--quiet", main], cwd=scratch, check=False)
        if rebase.returncode != 0:
            conflicted = git.git(
                ["diff", "--name-only", "--diff-filter=U"], cwd=scratch, check=False
            ).stdout.split()
            git.git(["rebase", "--abort"], cwd=scratch, check=False)
            if conflicted:
                detail = "conflict in " + ", ".join(conflicted[:5])
                return self._failed(mr, "conflict", detail, settings)
            # Not the polecat's doing (no identity, a hook, a broken repo): say what git said,
            # keep the request queued, and tell a person once.
            kind, detail = git.explain_failure(rebase)
            return self._blocked(mr, kind, f"rebase onto {main} failed: {detail}")
        if settings.verify:
            ok, output = self._verify(scratch, settings, mr_id)
            self._record(mr_id, verify_log=output[-OUTPUT_TAIL:])
            if not ok:
                return self._failed(mr, "verify_failed", output, settings)
        head = git.head_commit(scratch)
        if settings.merge_strategy == "pr":
            return self._push_for_pr(rig, mr, scratch, work_branch, settings)
        if git.is_dirty(repo):
            return MergeOutcome(mr_id, bead_id, "retry", f"{repo} has uncommitted changes")
        onto = git.head_commit(repo, main)  # kept so a merged request's diff can be shown
        merged = git.git(["merge", "--ff-only", "--quiet", work_branch], cwd=repo, check=False)
        if merged.returncode != 0:
            return MergeOutcome(mr_id, bead_id, "retry", "main moved; will rebase again")
        git.git(["checkout", "--quiet", "--detach"], cwd=scratch, check=False)
        git.git(["branch", "-D", work_branch], cwd=repo, check=False)
        pushed = ""
        if settings.push and rig.url:
            push = git.git(["push", "--quiet", "origin", main], cwd=repo, check=False)
            pushed = "; pushed" if push.returncode == 0 else f"; push failed: {push.stderr.strip()}"
        self._record(
            mr_id, status="merged", merged_commit=head, merged_at=iso(self.town.clock.now()),
            merged_onto=onto,
        )  # fmt: skip
        msg = f"merged {mr.get('branch')} ({bead_id}) into {main} at {str(head)[:10]}{pushed}"
        self.town.events.append(
            "refinery.merged", actor=self.address, rig=self.rig, bead=bead_id, msg=msg, mr=mr_id
        )
        return MergeOutcome(mr_id, bead_id, "merged", "", head)

    def _verify(
        self, scratch: Path, settings: RefinerySection, mr_id: str = ""
    ) -> tuple[bool, str]:
        """Run the rig's verify command. Its output goes to a file as it comes (stdout and
        stderr interleaved, town/merge_requests.live_log_path) so the app streams it while
        it runs; the file is removed at the end, when the tail is stored with the request."""
        env = {**os.environ, "GT_TOWN": str(self.town.root), "GT_RIG": self.rig}
        log = live_log_path(self.town, mr_id or "verify")
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            with log.open("wb") as out:
                out.write(f"$ {settings.verify}\n".encode())
                out.flush()
                proc = subprocess.Popen(
                    settings.verify,
                    shell=True,
                    cwd=scratch,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                try:
                    code = proc.wait(timeout=settings.verify_timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(OSError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return (
                        False,
                        f"verify `{settings.verify}` timed out after "
                        f"{settings.verify_timeout:.0f}s",
                    )
            text = log.read_text(encoding="utf-8", errors="replace")
        finally:
            with contextlib.suppress(OSError):
                log.unlink()
        tail = text.split("\n", 1)[1].strip()[-OUTPUT_TAIL:] if "\n" in text else ""
        if code == 0:
            return True, f"verify `{settings.verify}` passed" + (f":\n{tail}" if tail else "")
        return False, f"verify `{settings.verify}` failed (exit {code}):\n{tail}"

    def _push_for_pr(
        self,
        rig: Rig,
        mr: dict[str, Any],
        scratch: Path,
        work_branch: str,
        settings: RefinerySection,
    ) -> MergeOutcome:
        """[refinery] merge_strategy = "pr": the rebased, verified branch goes to the rig's
        remote under the polecat's branch name, and `gh` opens a pull request where it is
        installed. Main is not touched here; the pull request lands it."""
        import shutil

        mr_id, bead_id = str(mr["id"]), str(mr["bead"])
        repo, main, branch = Path(rig.path), rig.branch or "main", str(mr.get("branch"))
        push = git.git(
            ["push", "--quiet", "--force-with-lease", settings.remote,
             f"{work_branch}:refs/heads/{branch}"],
            cwd=scratch, check=False,
        )  # fmt: skip
        git.git(["checkout", "--quiet", "--detach"], cwd=scratch, check=False)
        git.git(["branch", "-D", work_branch], cwd=repo, check=False)
        if push.returncode != 0:
            kind, detail = git.explain_failure(push)
            return self._blocked(mr, kind, f"push to {settings.remote} failed: {detail}")
        bead = self.town.beads.get_many([bead_id]).get(bead_id)
        title = f"{bead_id}: {bead.title}" if bead else f"{bead_id}: {branch}"
        pr_url, note = "", ""
        gh = shutil.which("gh")
        if gh is None:
            note = f"gh is not installed: open the pull request for {branch} on {settings.remote}"
        else:
            proc = subprocess.run(
                [gh, "pr", "create", "--head", branch, "--base", main, "--title", title,
                 "--body", f"Merge request {mr_id} from {mr.get('polecat')} (Gas Town)."],
                cwd=repo, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            if proc.returncode == 0:
                pr_url = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            else:
                lines = (proc.stderr or proc.stdout).strip().splitlines()
                note = f"gh pr create failed: {lines[-1] if lines else proc.returncode}"
        self._record(
            mr_id, status="pushed", pushed_branch=branch, remote=settings.remote, pr_url=pr_url,
            pr_note=note, pushed_at=iso(self.town.clock.now()),
        )  # fmt: skip
        msg = f"pushed {branch} ({bead_id}) to {settings.remote}" + (
            f"; pull request {pr_url}" if pr_url else f"; {note}" if note else ""
        )
        self.town.events.append(
            "refinery.pushed", actor=self.address, rig=self.rig, bead=bead_id, msg=msg, mr=mr_id
        )
        return MergeOutcome(mr_id, bead_id, "pushed", pr_url or note)

    def _record(self, mr_id: str, **fields: Any) -> None:
        with self.town.beads.rig_txn(self.rig) as tx:
            tx.update_merge_request(mr_id, fields)

    def _blocked(self, mr: dict[str, Any], kind: str, detail: str) -> MergeOutcome:
        """A merge the town's own git setup prevents: the request stays queued (retried each
        patrol), and the overseer hears of it once per cause."""
        mr_id, bead_id = str(mr["id"]), str(mr["bead"])
        if mr.get("blocked_by") != detail:
            self._record(mr_id, blocked_by=detail)
            self.town.events.append(
                "refinery.blocked", actor=self.address, rig=self.rig, bead=bead_id, msg=detail,
                mr=mr_id,
            )  # fmt: skip
            self.notify(f"refinery {self.rig} cannot merge {bead_id}: {detail}", "error")
            with contextlib.suppress(GtError):
                self.town.mail.send(
                    ["overseer"],
                    f"MERGE_BLOCKED {bead_id}: {kind}",
                    f"The refinery of {self.rig} cannot merge {mr.get('branch')}: {detail}\n"
                    "It retries every patrol; nothing was lost.",
                    sender=self.address,
                    type="escalation",
                    priority="high",
                    message_id=f"{mr_id}-blocked-{kind}",
                )
        return MergeOutcome(mr_id, bead_id, "retry", detail)

    def _failed(
        self, mr: dict[str, Any], status: str, detail: str, settings: RefinerySection
    ) -> MergeOutcome:
        mr_id, bead_id, polecat = str(mr["id"]), str(mr["bead"]), str(mr.get("polecat") or "")
        now = iso(self.town.clock.now())
        docs = self.town.storage.merge_requests.docs(self.rig)
        attempts = 1 + sum(
            1 for d in docs if d.get("bead") == bead_id and d.get("status") in ("failed",)
        )
        final = attempts >= settings.max_attempts
        self._record(mr_id, status="failed", failure=status, detail=detail[:OUTPUT_TAIL], at=now)
        note = (
            f"REWORK: the refinery could not merge branch {mr.get('branch')} "
            f"({status}, attempt {attempts} of {settings.max_attempts}): {detail}"
        )
        with self.town.beads.rig_txn(self.rig) as tx:
            bead = tx.get_bead(bead_id)
            if bead is not None:
                bead.status = "blocked" if final else "open"
                bead.assignee = None
                bead.closed_at = None
                bead.updated_at = now
                bead.labels = sorted({*bead.labels, "rework"})
                bead.metadata["rework"] = {"branch": mr.get("branch"), "commit": mr.get("commit")}
                bead.comments.append(Comment(self.address, now, note))
                tx.put_bead(bead)
        self.town.events.append(
            "refinery.failed",
            actor=self.address,
            rig=self.rig,
            bead=bead_id,
            msg=note,
            mr=mr_id,
            final=final,  # the last attempt: a person is told (supervise/notify_route.py)
            **({"record": bead.to_dict()} if bead is not None else {}),
        )
        subject = f"REWORK_REQUEST {bead_id}: {status}"
        recipients = [polecat] if polecat else []
        if final:
            subject = f"MERGE_FAILED {bead_id}: {status} after {attempts} attempts"
            recipients = [f"{self.rig}/witness", "overseer"]
            self.notify(f"merge of {bead_id} failed {attempts} times ({status})", "error")
        for recipient in recipients:
            with contextlib.suppress(GtError):
                self.town.mail.send(
                    [recipient],
                    subject,
                    note,
                    sender=self.address,
                    type="escalation" if final else "task",
                    priority="high",
                    message_id=f"{mr_id}-{status}-{recipient.replace('/', '~')}",
                )
        return MergeOutcome(mr_id, bead_id, status, detail)


def failed_merges(town: Town) -> list[dict[str, Any]]:
    """Merge requests that failed, newest first (for the app's Problems view)."""
    out = []
    for rig in town.rigs.names():
        for doc in town.storage.merge_requests.docs(rig):
            if doc.get("status") == "failed":
                out.append(dict(doc))
    return sorted(out, key=lambda d: str(d.get("at") or ""), reverse=True)
