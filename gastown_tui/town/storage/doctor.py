"""Store snapshots and `gt doctor` of the files backend (storage/file_backend.py): they
copy, check and restore its files, so they live beside it.

A backup is a folder `backups/<UTC stamp>/` holding a copy of every store file that parses
(a corrupt file is never backed up, so "the newest backup that has it" is always good) and a
manifest. `doctor` sweeps orphan temp files, checks every store file, and restores a corrupt one
from the newest backup that holds it, moving the corrupt file to `store/corrupt/` rather than
deleting it: nothing is lost, even by the repair.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.town.errors import GtError, StoreCorrupt
from gastown_tui.town.storage.file_backend import (
    ARCHIVE_MAIL,
    BEADS,
    CONVOYS,
    MESSAGES,
    RIGS,
    FileBackend,
)
from gastown_tui.town.storage.files import Store, atomic_write_bytes, flocked, parse_tables

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

MANIFEST = "manifest.json"


def _store(town: Town) -> Store:
    backend = town.storage
    if not isinstance(backend, FileBackend):
        raise GtError(
            f"gt doctor and gt backup know the files backend only, not {backend.name!r}",
            hint="use the backend's own tools to check and back it up",
        )
    return backend.store


def _stamp(ts: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def _store_files(town: Town) -> list[Path]:
    files = _store(town).all_files()
    for extra in (town.paths.ids_file, _store(town).index.path):
        if extra.exists():
            files.append(extra)
    return [f for f in files if "corrupt" not in f.relative_to(town.paths.store).parts]


def _sequence(backup: Path) -> int:
    try:
        return int(orjson.loads((backup / MANIFEST).read_bytes()).get("seq", 0))
    except (OSError, orjson.JSONDecodeError, ValueError, AttributeError):
        return 0


def list_backups(town: Town) -> list[Path]:
    """Complete backups, newest first (by their sequence number, not the clock)."""
    folder = town.paths.backups
    if not folder.exists():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and (p / MANIFEST).exists()]
    return sorted(found, key=lambda p: (_sequence(p), p.name), reverse=True)


def create_backup(town: Town, *, keep: int | None = None, reason: str = "manual") -> Path:
    """Snapshot the store. Files that do not parse are skipped and listed in the manifest."""
    with flocked(town.paths.lock("backup")):
        return _create_backup(town, keep, reason)


def _create_backup(town: Town, keep: int | None, reason: str) -> Path:
    now = town.clock.now()
    existing = list_backups(town)
    seq = (_sequence(existing[0]) if existing else 0) + 1
    target = town.paths.backups / f"{_stamp(now)}-{seq:06d}"
    staging = target.with_name(f".{target.name}.partial")
    # Partial folders of earlier failed or killed backups (we hold the backup lock).
    for stale in town.paths.backups.glob(".*.partial") if town.paths.backups.exists() else ():
        shutil.rmtree(stale, ignore_errors=True)
    try:
        return _fill_backup(town, keep, reason, now, seq, target, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a failed backup leaves nothing behind
        raise


def _fill_backup(
    town: Town,
    keep: int | None,
    reason: str,
    now: float,
    seq: int,
    target: Path,
    staging: Path,
) -> Path:
    copied: list[str] = []
    skipped: list[str] = []
    for path in _store_files(town):
        rel = path.relative_to(town.paths.store)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue
        if path.suffix == ".json":
            try:
                parse_tables(path, raw)
            except StoreCorrupt:
                skipped.append(str(rel))
                continue
        dest = staging / "store" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(raw)
        copied.append(str(rel))
    manifest = {
        "seq": seq,
        "created": now,
        "reason": reason,
        "files": copied,
        "skipped_corrupt": skipped,
    }
    staging.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(staging / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    staging.rename(target)  # a backup folder exists only once complete
    if keep is None:
        keep = town.config.supervise.backups_keep
    rotate_backups(town, keep)
    return target


def rotate_backups(town: Town, keep: int) -> list[Path]:
    removed = []
    for old in list_backups(town)[max(keep, 1) :]:
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    return removed


@dataclass
class DoctorReport:
    checked: int = 0
    swept: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.unrepaired

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "swept": self.swept,
            "repaired": self.repaired,
            "unrepaired": self.unrepaired,
            "notes": self.notes,
            "healthy": self.healthy,
        }


def _newest_good_copy(town: Town, rel: Path) -> tuple[Path, bytes] | None:
    """(backup folder, file bytes) of the newest backup holding a copy of `rel` that parses."""
    for backup in list_backups(town):
        candidate = backup / "store" / rel
        if candidate.exists():
            raw = candidate.read_bytes()
            try:
                parse_tables(candidate, raw)
            except StoreCorrupt:
                continue
            return backup, raw
    return None


def doctor(town: Town, *, repair: bool = True) -> DoctorReport:
    """Check every store file and every bead id; restore and rebuild what was lost.

    1. Every store file that exists, that the file index lists, or that the rigs, the id index
       and the mail events say must exist is read. One that is garbled or missing is restored
       from the newest backup holding a good copy (a garbled file is kept in store/corrupt/);
       a missing one with no backup starts empty. A garbled one with no backup is left alone.
    2. What was written after that backup is rebuilt from the events, which carry the records
       (beads, convoys, rigs, messages): town/beads.py, convoys.py, rigs.py, mail.py.
    3. Every id in the id index is looked for in the rig files and the archive. A missing bead
       is rebuilt from its newest event; one no event holds is listed by id, unrepaired.
    """
    report = DoctorReport()
    report.swept = [str(p) for p in _store(town).sweep_orphans()]
    try:
        town.config  # noqa: B018 - loading validates town.toml
    except Exception as exc:
        report.unrepaired.append(f"{town.paths.town_toml}: {exc}")
    history = _History.read(town)
    restored: set[Path] = set()
    # town.json first: the rigs it lists say which rig files must exist.
    if _check_file(town, town.paths.town_file, repair, report):
        restored.add(town.paths.town_file)
    if town.paths.town_file in restored:
        _rebuild_town_file(town, history, report)
    for path in _expected_files(town, history):
        if path == town.paths.town_file:
            continue
        report.checked += 1
        if _check_file(town, path, repair, report):
            restored.add(path)
    report.checked += 1
    if report.repaired:
        with contextlib.suppress(Exception):
            town.events.append(
                "doctor.repaired", actor=town.actor, msg="; ".join(report.repaired)[:500]
            )
    _check_beads(town, history, repair, report)
    for path in sorted(restored):
        if path.parent == town.paths.mail_dir:
            _rebuild_inbox(town, path, history, report)
    if repair:
        # Files made before the file index existed: list them, so their loss is seen too.
        known = _store(town).index.known()
        for path in _store(town).all_files():
            rel = path.relative_to(town.paths.store)
            if rel.parts[0] not in ("corrupt", "removed") and rel.as_posix() not in known:
                _store(town).index.add(path)
    if not report.unrepaired:
        # Beads in a rig file but missing from the id index (a hand-edited store).
        known = town.ids.all()
        missing = []
        for rig in town.rigs.names():
            for doc in _store(town).file(town.paths.rig_file(rig)).table(BEADS).values():
                if doc.get("id") and doc["id"] not in known:
                    missing.append((doc["id"], rig))
        if missing and repair:
            town.ids.record(missing)
            report.notes.append(f"re-indexed {len(missing)} bead ids")
        if repair:
            pruned = town.beads.prune_archive_shadows()
            if pruned:
                report.notes.append(f"removed {pruned} stale archive copies of reopened beads")
    return report


class _History:
    """The records the events carry, newest last (rotated logs first, then events.jsonl)."""

    def __init__(self) -> None:
        self.beads: dict[str, dict[str, Any]] = {}  # id -> newest record
        self.mentioned: set[str] = set()  # bead ids any event names
        self.convoys: dict[str, dict[str, Any]] = {}
        self.convoy_ids: set[str] = set()
        self.rigs: dict[str, dict[str, Any] | None] = {}  # name -> record (None: removed)
        self.mail: list[dict[str, Any]] = []  # mail.sent events

    @classmethod
    def read(cls, town: Town) -> _History:
        from gastown_tui.town.events import parse_line

        out = cls()
        rotated = town.root / "events"
        files = sorted(rotated.glob("events-*.jsonl")) if rotated.is_dir() else []
        for path in [*files, town.paths.events]:
            try:
                handle = open(path, "rb")
            except OSError:
                continue
            with handle:
                for line in handle:
                    event = parse_line(line)
                    if event is not None:
                        out._take(event.type, event.bead, event.rig, event.extra)
        return out

    def _take(self, kind: str, bead: str | None, rig: str | None, extra: dict[str, Any]) -> None:
        record = extra.get("record")
        if bead:
            self.mentioned.add(bead)
        if isinstance(record, dict):
            if kind.startswith("convoy.") and isinstance(record.get("id"), str):
                self.convoys[record["id"]] = record
            elif kind == "rig.added" and isinstance(record.get("name"), str):
                self.rigs[record["name"]] = record
            elif bead and record.get("id") == bead:
                self.beads[bead] = record
        if kind.startswith("convoy.") and isinstance(extra.get("convoy"), str):
            self.convoy_ids.add(extra["convoy"])
        if kind == "rig.removed" and rig:
            self.rigs[rig] = None
        if kind == "mail.sent":
            self.mail.append(extra)


def _expected_files(town: Town, history: _History) -> list[Path]:
    """Store files that exist or must exist."""
    store = town.paths.store
    found = {
        p
        for p in _store(town).all_files()
        if p.relative_to(store).parts[0] not in ("corrupt", "removed")
    }
    found.update(store / rel for rel in _store(town).index.known() if rel.endswith(".json"))
    rigs_with_ids = set(town.ids.all().values())
    with contextlib.suppress(StoreCorrupt):
        for rig in town.rigs.names():
            if rig in rigs_with_ids:
                found.add(town.paths.rig_file(rig))
    for sent in history.mail:
        for address in sent.get("to") or []:
            if isinstance(address, str) and address:
                found.add(town.paths.mail_file(address))
    return sorted(found)


def _problem(path: Path) -> str | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return "the file is missing"
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    try:
        parse_tables(path, raw)
    except StoreCorrupt as exc:
        return exc.detail
    return None


def _check_file(town: Town, path: Path, repair: bool, report: DoctorReport) -> bool:
    """Check one store file; restore it if it is garbled or missing. True if restored."""
    problem = _problem(path)
    if problem is None:
        return False
    if not repair:
        report.unrepaired.append(f"{path}: {problem}")
        return False
    rel = path.relative_to(town.paths.store)
    sf = _store(town).file(path)
    with flocked(sf.lock_path):
        problem = _problem(path)
        if problem is None:
            return False
        good = _newest_good_copy(town, rel)
        missing = not path.exists()
        if good is None and not missing:
            report.unrepaired.append(problem_line(path, problem) + " (no backup holds a good copy)")
            return False
        aside = None
        if not missing:
            name = f"{rel.as_posix().replace('/', '~')}.{_stamp(time.time())}"
            aside = town.paths.store / "corrupt" / name
            aside.parent.mkdir(parents=True, exist_ok=True)
            path.replace(aside)
        if good is not None:
            backup, raw = good
            how = f"restored from backup {backup.name}"
        else:
            raw = b"{}"
            how = "no backup held it: rebuilt from the events alone"
        atomic_write_bytes(path, raw)
        _store(town).cache.drop(path)
        if not _store(town).index.expects(path):
            _store(town).index.add(path)
        kept = f" (the unreadable file is kept as {aside})" if aside else ""
        report.repaired.append(f"{path}: {problem}; {how}{kept}")
    return True


def problem_line(path: Path, problem: str) -> str:
    return f"{path}: {problem}"


def _rebuild_town_file(town: Town, history: _History, report: DoctorReport) -> None:
    """Put back the rigs and convoys the events know of and the restored town.json lacks."""

    rebuilt: list[str] = []
    with _store(town).file(town.paths.town_file).transaction() as txn:
        if not txn.raw("meta"):
            txn.insert("meta", {"version": 1, "created_at": "", "name": None})
        rigs = {d.get("name"): k for k, d in txn.raw(RIGS).items()}
        for name, record in history.rigs.items():
            if record is None:
                if name in rigs:
                    continue  # removed after the backup? keep what the backup says
                continue
            if name not in rigs:
                rigs[name] = txn.insert(RIGS, dict(record))
                rebuilt.append(f"rig {name}")
        convoys = {d.get("id"): k for k, d in txn.raw(CONVOYS).items()}
        for convoy_id, record in history.convoys.items():
            key = convoys.get(convoy_id)
            if key is None:
                txn.insert(CONVOYS, dict(record))
                rebuilt.append(f"convoy {convoy_id}")
            elif (record.get("updated") or "") > (txn.raw(CONVOYS)[key].get("updated") or ""):
                txn.put(CONVOYS, key, dict(record))
                rebuilt.append(f"convoy {convoy_id}")
        lost_convoys = sorted(history.convoy_ids - set(convoys) - set(history.convoys))
        known_rigs = set(rigs)
    if rebuilt:
        report.repaired.append(
            f"{town.paths.town_file}: rebuilt from the events: " + ", ".join(rebuilt)
        )
    for convoy_id in lost_convoys:
        report.unrepaired.append(f"convoy {convoy_id}: lost, and no event holds its record")
    for rig in sorted(set(town.ids.all().values()) - known_rigs):
        if history.rigs.get(rig) is None and town.paths.rig_file(rig).exists():
            report.unrepaired.append(
                f"rig {rig}: its beads are in {town.paths.rig_file(rig)} but the rig is not in "
                "town.json and no event holds its record (re-add it with `gt rig add`)"
            )


def _check_beads(town: Town, history: _History, repair: bool, report: DoctorReport) -> None:
    """Every id of the id index must be in a rig file or the archive; rebuild the lost ones
    and the ones a restored file holds in an older state than their newest event."""

    try:
        rigs = set(town.rigs.names())
        index = town.ids.all()
    except StoreCorrupt:
        return
    where: dict[str, tuple[Path, str, dict[str, Any]]] = {}
    files = [town.paths.rig_file(r) for r in sorted(rigs)]
    files += sorted(_store(town).files_in(town.paths.archive_dir), reverse=True)
    for path in files:
        try:
            table = _store(town).file(path).table(BEADS)
        except StoreCorrupt:
            return  # reported above; ids are checked once the file is readable
        for key, doc in table.items():
            where.setdefault(doc["id"], (path, key, doc))
    updates: dict[Path, list[tuple[str | None, dict[str, Any]]]] = {}
    rebuilt: list[str] = []
    lost: list[str] = []
    unused: list[str] = []
    removed = {r for r, record in history.rigs.items() if record is None} - rigs
    for bead_id in sorted(index):
        if index[bead_id] in removed:
            continue  # its rig was removed on purpose; its file is kept in store/removed/
        record = history.beads.get(bead_id)
        found = where.get(bead_id)
        if found is not None:
            path, key, doc = found
            if record and (record.get("updated_at") or "") > (doc.get("updated_at") or ""):
                updates.setdefault(path, []).append((key, record))
                rebuilt.append(bead_id)
            continue
        if record is not None and record.get("rig") in rigs:
            updates.setdefault(town.paths.rig_file(record["rig"]), []).append((None, record))
            rebuilt.append(bead_id)
        elif bead_id in history.mentioned or record is not None:
            lost.append(bead_id)
        else:
            unused.append(bead_id)
    if not repair:
        if rebuilt or lost:
            report.unrepaired.append(
                "beads missing from the store or older than their events: "
                + ", ".join(sorted(rebuilt + lost))
                + " (run `gt doctor` to rebuild them)"
            )
        return
    for path, items in updates.items():
        with _store(town).file(path).transaction() as txn:
            table = txn.raw(BEADS)
            for key, record in items:
                if key is not None and key in table:
                    txn.put(BEADS, key, dict(record))
                else:
                    txn.insert(BEADS, dict(record))
    if rebuilt:
        report.repaired.append(
            f"rebuilt {len(rebuilt)} bead(s) from the events: " + ", ".join(rebuilt)
        )
    if lost:
        report.unrepaired.append(
            f"lost {len(lost)} bead(s) that no event holds a record of: " + ", ".join(lost)
        )
    if unused:
        report.notes.append(
            f"{len(unused)} id(s) reserved but never written (a failed create): "
            + ", ".join(unused[:20])
        )


def _rebuild_inbox(town: Town, path: Path, history: _History, report: DoctorReport) -> None:
    """Put back the messages the mail.sent events delivered to a restored inbox."""
    from gastown_tui.town.paths import decode_address

    address = decode_address(path.stem)
    archived = set()
    for archive in _store(town).files_in(town.paths.archive_dir):
        with contextlib.suppress(StoreCorrupt):
            for doc in _store(town).file(archive).table(ARCHIVE_MAIL).values():
                if doc.get("inbox") == address:
                    archived.add(doc.get("id"))
    rebuilt: list[str] = []
    lost: list[str] = []
    with _store(town).file(path).transaction() as txn:
        present = {d.get("id") for d in txn.raw(MESSAGES).values()} | archived
        for sent in history.mail:
            message_id = sent.get("id")
            if address not in (sent.get("to") or []) or message_id in present:
                continue
            message = sent.get("message")
            if isinstance(message, dict) and message.get("id") == message_id:
                next_id = max(map(int, txn.raw(MESSAGES)), default=0) + 1
                txn.put(MESSAGES, str(next_id), {**message, "inbox": address, "read": False})
                rebuilt.append(str(message_id))
            else:
                lost.append(str(message_id))
            present.add(message_id)
    if rebuilt:
        report.repaired.append(
            f"{path}: rebuilt {len(rebuilt)} message(s) from the events (as unread): "
            + ", ".join(rebuilt)
        )
    if lost:
        report.unrepaired.append(
            f"{path}: lost {len(lost)} message(s) that no event holds: " + ", ".join(lost)
        )
