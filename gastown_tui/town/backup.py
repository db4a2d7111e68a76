"""Store snapshots and `gt doctor`.

A backup is a folder `backups/<UTC stamp>/` holding a copy of every store file that parses
(a corrupt file is never backed up, so "the newest backup that has it" is always good) and a
manifest. `doctor` sweeps orphan temp files, checks every store file, and restores a corrupt one
from the newest backup that holds it, moving the corrupt file to `store/corrupt/` rather than
deleting it: nothing is lost, even by the repair.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gastown_tui.town.errors import StoreCorrupt
from gastown_tui.town.store import atomic_write_bytes, flocked, parse_tables

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

MANIFEST = "manifest.json"


def _stamp(ts: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def _store_files(town: Town) -> list[Path]:
    files = town.store.all_files()
    if town.paths.ids_file.exists():
        files.append(town.paths.ids_file)
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
        keep = town.config.integer("supervise.backups_keep")
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
    report = DoctorReport()
    report.swept = [str(p) for p in town.store.sweep_orphans()]
    try:
        town.config  # noqa: B018 - loading validates town.toml
    except Exception as exc:
        report.unrepaired.append(f"{town.paths.town_toml}: {exc}")
    if not town.paths.town_file.exists():
        report.unrepaired.append(f"{town.paths.town_file} is missing")
    for path in town.store.all_files():
        rel = path.relative_to(town.paths.store)
        if rel.parts[0] == "corrupt":
            continue
        report.checked += 1
        sf = town.store.file(path)
        with flocked(sf.lock_path):
            try:
                parse_tables(path, path.read_bytes())
                continue
            except StoreCorrupt as exc:
                problem = f"{path}: {exc.detail}"
            if not repair:
                report.unrepaired.append(problem)
                continue
            good = _newest_good_copy(town, rel)
            if good is None:
                report.unrepaired.append(problem + " (no backup holds a good copy)")
                continue
            backup, raw = good
            name = f"{rel.as_posix().replace('/', '~')}.{_stamp(time.time())}"
            aside = town.paths.store / "corrupt" / name
            aside.parent.mkdir(parents=True, exist_ok=True)
            path.replace(aside)
            atomic_write_bytes(path, raw)
            town.store.cache.drop(path)
            report.repaired.append(
                f"{path}: restored from backup {backup.name}"
                f" (the unreadable file is kept as {aside})"
            )
    if report.repaired:
        town.events.append(
            "doctor.repaired", actor=town.actor, msg="; ".join(report.repaired)[:500]
        )
    # Beads in a rig file but missing from the id index (a hand-edited store): re-index them.
    if town.paths.town_file.exists() and not report.unrepaired:
        known = town.ids.all()
        missing = []
        for rig in town.rigs.names():
            for doc in town.rig_file(rig).table("beads").values():
                if doc.get("id") and doc["id"] not in known:
                    missing.append((doc["id"], rig))
        if missing:
            town.ids.record(missing)
            report.notes.append(f"re-indexed {len(missing)} bead ids")
        pruned = town.beads.prune_archive_shadows()
        if pruned:
            report.notes.append(f"removed {pruned} stale archive copies of reopened beads")
    return report
