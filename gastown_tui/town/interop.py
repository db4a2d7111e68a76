"""Interop with beads (`bd`): read and write its JSONL backup format.

A backup folder holds issues.jsonl, dependencies.jsonl, labels.jsonl, comments.jsonl and
events.jsonl. Import keeps every bead with its status, priority, type, labels, dependencies and
comments; closed beads go straight to the archive. It is idempotent: beads already in the town
are skipped, and every write is an upsert by id, so an import killed half-way is simply rerun.
Fields of `bd` that we have no column for are kept in `metadata["bd"]` and written back on export.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.town.beads import check_description, check_label, check_title
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import BEAD_STATUSES, Bead, Comment, Dependency
from gastown_tui.town.storage.files import atomic_write_bytes
from gastown_tui.town.validate import check_bead_id, one_line

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

BD_FILES = ("issues", "dependencies", "labels", "comments", "events")
# Columns of a bd issue we map onto Bead fields; everything else non-empty goes to metadata.bd.
MAPPED = {
    "id",
    "title",
    "description",
    "status",
    "priority",
    "issue_type",
    "assignee",
    "created_at",
    "created_by",
    "updated_at",
    "closed_at",
    "close_reason",
    "metadata",
}
MAX_REPORTED_BAD = 20


@dataclass
class BadLine:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class ImportReport:
    rig: str
    imported: int = 0
    skipped_existing: int = 0
    archived: int = 0
    events: int = 0
    bad: list[BadLine] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rig": self.rig,
            "imported": self.imported,
            "skipped_existing": self.skipped_existing,
            "archived": self.archived,
            "events": self.events,
            "bad_lines": [str(b) for b in self.bad],
            "by_status": dict(self.by_status),
        }


def _read_jsonl(path: Path, bad: list[BadLine]) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise GtError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                bad.append(BadLine(path, number, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(row, dict):
                bad.append(BadLine(path, number, "not a JSON object"))
                continue
            yield number, row


def _locate(source: Path) -> dict[str, Path]:
    if not source.exists():
        raise GtError(f"{source} does not exist")
    if source.is_file():
        return {"issues": source}
    files = {name: source / f"{name}.jsonl" for name in BD_FILES}
    if not files["issues"].is_file():
        raise GtError(
            f"{source} has no issues.jsonl",
            hint="point at a beads backup folder or at an issues.jsonl file",
        )
    return files


def _checked(check: Any, *args: Any, **kwargs: Any) -> Any:
    """A town/validate.py check as a ValueError: the row is reported as bad, not imported."""
    try:
        return check(*args, **kwargs)
    except GtError as exc:
        raise ValueError(str(exc)) from None


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) else ""


def _bead_from_row(row: dict[str, Any], rig: str) -> Bead:
    """Map one bd issue row. Raises ValueError with a reason for a row we cannot keep.

    Ids, titles and text are checked as `gt bead create` checks them (town/validate.py): an id
    ends up in paths and branch names, a title in terminals."""
    bead_id = row.get("id")
    if not isinstance(bead_id, str) or not bead_id.strip():
        raise ValueError("missing id")
    bead_id = _checked(check_bead_id, bead_id.strip())
    title = row.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"{bead_id}: missing title")
    try:
        title = check_title(title)
        description = check_description(_text(row, "description"))
        close_reason = check_description(_text(row, "close_reason"), "close reason")
        assignee = row.get("assignee") or None
        if assignee is not None:
            assignee = one_line(str(assignee), what="assignee", owner="a bead", limit=200)
        created_by = _text(row, "created_by")
        if created_by:
            created_by = one_line(created_by, what="creator", owner="a bead", limit=200)
    except GtError as exc:
        raise ValueError(f"{bead_id}: {exc}") from None
    status = row.get("status") or "open"
    if status not in BEAD_STATUSES:
        raise ValueError(f"{bead_id}: unknown status {status!r}")
    priority = row.get("priority", 2)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 4:
        raise ValueError(f"{bead_id}: priority {priority!r} is not 0-4")
    metadata: dict[str, Any] = {}
    raw_meta = row.get("metadata")
    if isinstance(raw_meta, str) and raw_meta.strip():
        try:
            parsed = orjson.loads(raw_meta)
            if isinstance(parsed, dict):
                metadata.update(parsed)
        except orjson.JSONDecodeError:
            metadata["bd_metadata"] = raw_meta
    elif isinstance(raw_meta, dict):
        metadata.update(raw_meta)
    extra = {k: v for k, v in row.items() if k not in MAPPED and v not in (None, "", 0, [], {})}
    if extra:
        metadata["bd"] = extra
    return Bead(
        id=bead_id,
        title=title,
        rig=rig,
        description=description,
        status=status,
        priority=priority,
        type=row.get("issue_type") or "task",
        assignee=assignee,
        created_at=row.get("created_at") or "",
        updated_at=row.get("updated_at") or row.get("created_at") or "",
        closed_at=row.get("closed_at") or None,
        close_reason=close_reason,
        created_by=created_by,
        metadata=metadata,
    )


def _bad(check: Any, *args: Any) -> str | None:
    """Why `check` refuses its arguments, or None."""
    try:
        check(*args)
    except GtError as exc:
        return str(exc)
    return None


def _event_from_row(row: dict[str, Any], rig: str) -> dict[str, Any]:
    kind = str(row.get("event_type") or "event")
    msg = ""
    new_value = row.get("new_value")
    if isinstance(new_value, str) and new_value.startswith("{"):
        try:
            parsed = orjson.loads(new_value)
            if isinstance(parsed, dict):
                msg = ", ".join(
                    f"{k}={v}" for k, v in parsed.items() if isinstance(v, str | int) and v != ""
                )[:200]
        except orjson.JSONDecodeError:
            pass
    elif isinstance(new_value, str):
        msg = new_value[:200]
    if row.get("comment"):
        msg = str(row["comment"])[:200]
    return {
        "ts": row.get("created_at") or "",
        "type": f"bd.{kind}",
        "actor": row.get("actor") or "",
        "rig": rig,
        "bead": row.get("issue_id"),
        "msg": msg,
        "imported": True,
        "bd": {k: row.get(k) for k in ("id", "old_value", "new_value", "comment")},
    }


def import_beads(
    town: Town, source: Path, *, rig: str | None = None, skip_bad: bool = False
) -> ImportReport:
    files = _locate(source)
    rig_record = town.rigs.get(rig) if rig else town.rigs.default()
    bad: list[BadLine] = []

    beads: dict[str, Bead] = {}
    for number, row in _read_jsonl(files["issues"], bad):
        try:
            bead = _bead_from_row(row, rig_record.name)
        except ValueError as exc:
            bad.append(BadLine(files["issues"], number, str(exc)))
            continue
        beads[bead.id] = bead

    rel_rows: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for name in ("dependencies", "labels", "comments", "events"):
        path = files.get(name)
        rel_rows[name] = list(_read_jsonl(path, bad)) if path else []
    for number, row in rel_rows["labels"]:
        bead = beads.get(row.get("issue_id", ""))
        label = row.get("label")
        if not isinstance(label, str) or not label:
            bad.append(BadLine(files["labels"], number, "missing label"))
        elif bead is not None and _bad(check_label, label):
            bad.append(BadLine(files["labels"], number, _bad(check_label, label) or ""))
        elif bead is not None and label not in bead.labels:
            bead.labels.append(label)
    for number, row in rel_rows["dependencies"]:
        bead = beads.get(row.get("issue_id", ""))
        target = row.get("depends_on_id")
        if not isinstance(target, str) or not target:
            bad.append(BadLine(files["dependencies"], number, "missing depends_on_id"))
        elif _bad(check_bead_id, target):
            bad.append(BadLine(files["dependencies"], number, _bad(check_bead_id, target) or ""))
        elif bead is not None:
            bead.deps.append(Dependency(target, str(row.get("type") or "blocks")))
    comment_rows = sorted(
        rel_rows["comments"], key=lambda item: (item[1].get("created_at") or "", item[0])
    )
    for number, row in comment_rows:
        bead = beads.get(row.get("issue_id", ""))
        if not isinstance(row.get("text"), str):
            bad.append(BadLine(files["comments"], number, "missing text"))
        elif _bad(check_description, row["text"], "comment"):
            bad.append(
                BadLine(
                    files["comments"], number, _bad(check_description, row["text"], "comment") or ""
                )
            )
        elif bead is not None:
            bead.comments.append(
                Comment(str(row.get("author") or ""), str(row.get("created_at") or ""), row["text"])
            )

    if bad and not skip_bad:
        shown = "; ".join(str(b) for b in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise GtError(
            f"bad input: {shown}{more}",
            hint="fix the file, or pass --skip-bad to import the rest",
        )

    report = ImportReport(rig=rig_record.name, bad=bad[:MAX_REPORTED_BAD])
    known = town.ids.all()
    fresh = {bead_id: b for bead_id, b in beads.items() if bead_id not in known}
    report.skipped_existing = len(beads) - len(fresh)
    for bead in fresh.values():
        bead.labels.sort()
        report.by_status[bead.status] += 1

    closed = [b for b in fresh.values() if b.is_closed]
    open_beads = [b for b in fresh.values() if not b.is_closed]
    if fresh:
        with town.beads.rig_txn(rig_record.name) as tx:
            # Destination first: archive, then the rig file, then the id index.
            report.archived = town.beads.archive_docs(b.to_dict() for b in closed)
            for bead in open_beads:
                tx.put_bead(bead)
        town.ids.record((bead_id, rig_record.name) for bead_id in fresh)
    report.imported = len(fresh)

    events = [
        _event_from_row(row, rig_record.name)
        for _, row in rel_rows["events"]
        if row.get("issue_id") in fresh
    ]
    events.sort(key=lambda e: e["ts"])
    if fresh:
        town.events.append_raw(events)
        report.events = len(events)
        town.events.append(
            "bead.imported",
            actor=town.actor,
            rig=rig_record.name,
            msg=f"{report.imported} beads from {source} ({report.archived} closed, archived)",
        )
    return report


def _bd_issue(bead: Bead) -> dict[str, Any]:
    metadata = dict(bead.metadata)
    extra = metadata.pop("bd", {}) or {}
    row: dict[str, Any] = dict(extra)
    row.update(
        {
            "id": bead.id,
            "title": bead.title,
            "description": bead.description,
            "status": bead.status,
            "priority": bead.priority,
            "issue_type": bead.type,
            "assignee": bead.assignee,
            "created_at": bead.created_at,
            "created_by": bead.created_by,
            "updated_at": bead.updated_at,
            "closed_at": bead.closed_at,
            "close_reason": bead.close_reason,
            "metadata": orjson.dumps(metadata).decode(),
        }
    )
    return dict(sorted(row.items()))


def export_beads(town: Town, dest: Path, *, rig: str | None = None) -> dict[str, int]:
    """Write the town's beads (archive included) as a bd backup folder. Returns row counts."""
    if dest.exists() and not dest.is_dir():
        raise GtError(f"{dest} exists and is not a directory")
    beads = town.beads.list(rig=rig, include_closed=True, include_archive=True)
    bead_ids = {b.id for b in beads}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in BD_FILES}
    comment_id = 0
    for bead in sorted(beads, key=lambda b: b.id):
        rows["issues"].append(_bd_issue(bead))
        for label in bead.labels:
            rows["labels"].append({"issue_id": bead.id, "label": label})
        for dep in bead.deps:
            rows["dependencies"].append(
                {"issue_id": bead.id, "depends_on_id": dep.on, "type": dep.type}
            )
        for comment in bead.comments:
            comment_id += 1
            rows["comments"].append(
                {
                    "id": comment_id,
                    "issue_id": bead.id,
                    "author": comment.author,
                    "created_at": comment.created_at,
                    "text": comment.text,
                }
            )
    event_id = 0
    for event in town.events.iter_all():
        if event.bead not in bead_ids:
            continue
        event_id += 1
        original = event.extra.get("bd") or {}
        kind = event.type.removeprefix("bd.").removeprefix("bead.")
        rows["events"].append(
            {
                "id": event_id,
                "issue_id": event.bead,
                "event_type": kind,
                "actor": event.actor,
                "created_at": event.ts,
                "comment": original.get("comment"),
                "old_value": original.get("old_value"),
                "new_value": original.get("new_value", event.msg),
            }
        )
    dest.mkdir(parents=True, exist_ok=True)
    for name, items in rows.items():
        payload = b"".join(orjson.dumps(item) + b"\n" for item in items)
        atomic_write_bytes(dest / f"{name}.jsonl", payload)
    town.events.append("bead.exported", actor=town.actor, msg=f"{len(beads)} beads to {dest}")
    return {name: len(items) for name, items in rows.items()}
