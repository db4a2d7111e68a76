"""gt mr …: merge requests, reviewed by a person before (or instead of) the refinery merging.

`list`, `show` read; `approve` records the approval and has the rig's refinery merge it now
(its verify output is printed and kept on the request); `changes` sends it back to the polecat
with a comment (REWORK_REQUEST mail and a nudge); `reject` returns the bead to ready and keeps
the branch. A decision on a request that moved on, merged or does not exist is exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gastown_tui.commands.common import add_json, emit_json, emit_table, open_town


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    mr = sub.add_parser("mr", parents=[common], help="review merge requests (approve, reject)")
    msub = mr.add_subparsers(dest="mr_command", metavar="ACTION", required=True)

    p = msub.add_parser("list", parents=[common], help="merge requests in queue order")
    p.add_argument("--rig")
    p.add_argument("--open", action="store_true", help="only those not finished")
    add_json(p)
    p.set_defaults(func=cmd_list)

    p = msub.add_parser("show", parents=[common], help="a request: state, commits, files, diff")
    p.add_argument("id")
    p.add_argument("--diff", action="store_true", help="print the whole diff")
    add_json(p)
    p.set_defaults(func=cmd_show)

    p = msub.add_parser("approve", parents=[common], help="approve; the refinery merges it now")
    p.add_argument("id")
    p.add_argument("--commit", metavar="SHA", help="the commit you reviewed (refused if it moved)")
    p.add_argument(
        "--no-merge", action="store_true", help="leave the merge to the refinery's next patrol"
    )
    add_json(p)
    p.set_defaults(func=cmd_approve)

    p = msub.add_parser(
        "changes", parents=[common], help="send it back to the polecat with a comment"
    )
    p.add_argument("id")
    p.add_argument("-m", "--message", dest="comment", required=True, help="what to change")
    add_json(p)
    p.set_defaults(func=cmd_changes)

    p = msub.add_parser("reject", parents=[common], help="never merge it: bead back to ready")
    p.add_argument("id")
    p.add_argument("-m", "--message", dest="reason", default="", help="why")
    add_json(p)
    p.set_defaults(func=cmd_reject)


def cmd_list(args: argparse.Namespace) -> int:
    from gastown_tui.town.merge_requests import MergeRequests

    town = open_town(args)
    if args.rig:
        town.rigs.get(args.rig)
    mrs = MergeRequests(town).list(args.rig, include_done=not args.open)
    if args.json:
        emit_json([m.to_dict() for m in mrs])
        return 0
    if not mrs:
        print("no merge requests", file=sys.stderr)
        return 0
    emit_table(
        ["ID", "STATE", "TRIES", "BEAD", "BRANCH", "COMMIT"],
        [
            (
                m.id,
                m.state,
                m.doc.get("attempts") or 0,
                m.doc.get("bead"),
                m.doc.get("branch"),
                str(m.doc.get("commit") or "")[:10],
            )
            for m in mrs
        ],
    )
    return 0


def _show_dict(town: Any, mr: Any, with_diff: bool) -> dict[str, Any]:
    from gastown_tui.town.merge_requests import MergeRequests

    requests = MergeRequests(town)
    out = mr.to_dict()
    out["branch_head"] = requests.branch_head(mr)
    diff = requests.diff(mr)
    out["commits"] = [{"commit": c, "subject": s} for c, s in diff.commits]
    out["files"] = [{"path": p, "added": a, "deleted": d} for p, a, d in diff.files]
    if with_diff:
        out["diff"] = diff.diff
    return out


def cmd_show(args: argparse.Namespace) -> int:
    from gastown_tui.town.merge_requests import MergeRequests

    town = open_town(args)
    mr = MergeRequests(town).get(args.id)
    info = _show_dict(town, mr, args.diff or args.json)
    if args.json:
        emit_json(info)
        return 0
    doc = info
    lines = [
        f"{mr.id}  {doc.get('state')}  bead {doc.get('bead')}  from {doc.get('polecat')}",
        f"  branch {doc.get('branch')} at {str(doc.get('commit'))[:10]}"
        + (
            f" (branch now at {str(doc['branch_head'])[:10]})"
            if doc.get("branch_head") and doc["branch_head"] != doc.get("commit")
            else ""
        ),
        f"  recorded {doc.get('created')}  attempts {doc.get('attempts') or 0}",
    ]
    for key, label in (
        ("approved_by", "approved by"),
        ("reviewed_by", "reviewed by"),
        ("comment", "comment"),
        ("failure", "failure"),
        ("merged_commit", "merged as"),
        ("pushed_branch", "pushed"),
        ("pr_url", "pull request"),
        ("pr_note", "note"),
    ):
        if doc.get(key):
            lines.append(f"  {label}: {doc[key]}")
    lines.append("")
    lines.append(f"commits ({len(info['commits'])}):")
    lines += [f"  {c['commit']}  {c['subject']}" for c in info["commits"]]
    lines.append(f"files ({len(info['files'])}):")
    lines += [f"  +{f['added']:<5} -{f['deleted']:<5} {f['path']}" for f in info["files"]]
    log = doc.get("verify_log") or doc.get("detail")
    if log:
        lines += ["", "verify:", *("  " + line for line in str(log).splitlines())]
    print("\n".join(lines))
    if args.diff:
        print()
        sys.stdout.write(info["diff"])
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from gastown_tui.supervise.refinery import Refinery
    from gastown_tui.town.merge_requests import MergeRequests

    town = open_town(args)
    requests = MergeRequests(town)
    mr = requests.approve(args.id, town.actor, commit=args.commit)
    outcome = None
    if not args.no_merge:
        outcome = Refinery(town, mr.rig).merge_now(mr.id)
    after = requests.get(mr.id)
    if args.json:
        emit_json({**after.to_dict(), "outcome": outcome.status if outcome else None})
    else:
        print(f"{mr.id} approved by {town.actor}")
        if outcome is None:
            print("the refinery merges it on its next patrol")
        else:
            print(outcome.describe())
            if after.doc.get("verify_log"):
                print(after.doc["verify_log"])
    if outcome is not None and outcome.status not in ("merged", "pushed", "retry"):
        return 1
    return 0


def cmd_changes(args: argparse.Namespace) -> int:
    from gastown_tui.dispatch.review import request_changes
    from gastown_tui.dispatch.tmuxfor import tmux_for

    town = open_town(args)
    mr, nudge = request_changes(town, tmux_for(town), args.id, args.comment)
    if args.json:
        emit_json({**mr.to_dict(), "nudge": nudge})
    else:
        print(
            f"{mr.id}: changes requested; REWORK_REQUEST sent to {mr.doc.get('polecat')} "
            f"(nudge {nudge}); bead {mr.doc.get('bead')} is open again"
        )
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from gastown_tui.town.merge_requests import MergeRequests

    town = open_town(args)
    mr = MergeRequests(town).reject(args.id, town.actor, args.reason)
    if args.json:
        emit_json(mr.to_dict())
    else:
        print(
            f"{mr.id} rejected: bead {mr.doc.get('bead')} is ready again; "
            f"branch {mr.doc.get('branch')} kept"
        )
    return 0
