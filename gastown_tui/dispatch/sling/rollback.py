"""Undoing a sling that failed after its hook, and the note that lets the deacon finish an
undo that could not be written (a full disk)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.dispatch.sling.jobs import Job, describe
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.models import ACTIVE_STATUSES
from gastown_tui.town.paths import session_for
from gastown_tui.town.polecats import STATE_IDLE, Polecat
from gastown_tui.town.procs import pid_alive
from gastown_tui.town.storage.files import atomic_write_bytes

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town


def rollback(
    town: Town, tmux: TownTmux, rig: str, job: Job, error: str, owner: int | None = None
) -> None:
    """Undo a sling that failed after its hook: bead open and unassigned, polecat idle (a
    polecat created by this sling disappears), the window killed. Worktrees stay. `owner` is
    the pid of the sling being undone (this process, or a dead one: finish_rollbacks)."""
    if job.window_started and not job.keep_window:
        try:
            tmux.kill_window(session_for(rig), job.polecat.name)
        except GtError:
            pass
    now = iso(town.clock.now())
    mine = owner if owner is not None else os.getpid()
    with town.beads.rig_txn(rig) as tx:
        doc = tx.get_polecat(job.polecat.name)
        if doc is not None:
            record = Polecat.from_dict(doc)
            starting = record.starting or {}
            if starting.get("pid") == mine and starting.get("bead") == job.bead.id:
                if job.created and not record.history and not job.keep_window:
                    tx.remove_polecat(record.name)
                else:
                    record.starting = None
                    record.state = STATE_IDLE
                    record.window = None
                    record.pid = None
                    record.updated_at = now
                    tx.put_polecat(record.to_dict())
        bead = tx.get_bead(job.bead.id)
        if (
            bead is not None
            and bead.assignee == job.polecat.address
            and bead.status in ACTIVE_STATUSES
        ):
            bead.status = "open"
            bead.assignee = None
            bead.updated_at = now
            tx.put_bead(bead)
            record = bead.to_dict()
        else:
            record = None
    town.events.append(
        "polecat.sling_failed",
        actor=town.actor,
        rig=rig,
        bead=job.bead.id,
        msg=f"{job.polecat.address}: {error}",
        polecat=job.polecat.address,
        **({"record": record} if record else {}),
    )


def rollback_dir(town: Town) -> Path:
    return town.paths.runtime / "rollbacks"


NOTE_SIZE = 2048


def note_path(town: Town, rig: str, job: Job) -> Path:
    return rollback_dir(town) / f"{rig}~{job.polecat.name}~{job.bead.id}.json"


def write_note(town: Town, rig: str, job: Job, state: str, error: str = "") -> None:
    """A sling's note to the deacon, of a fixed size: written ("starting") right after the
    hook, while the disk has room, and overwritten in place ("rollback") when the rollback
    itself cannot be written, which needs no new space even on a full disk."""
    from gastown_tui.town import jsoncodec  # not orjson: its import (uuid, platform) is ~3 ms

    doc = {
        "state": state,
        "rig": rig,
        "polecat": job.polecat.name,
        "bead": job.bead.id,
        "pid": os.getpid(),
        "created": job.created,
        "window_started": job.window_started,
        "error": error[:1000],
    }
    payload = jsoncodec.dumps(doc)[: NOTE_SIZE - 1].ljust(NOTE_SIZE - 1) + b"\n"
    path = note_path(town, rig, job)
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        try:
            atomic_write_bytes(path, payload)
        except OSError:
            pass  # the deacon then finds the dead start mark and resumes the start
        return
    except OSError:
        return
    try:
        os.pwrite(fd, payload, 0)
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def drop_note(town: Town, rig: str, job: Job) -> None:
    try:
        note_path(town, rig, job).unlink(missing_ok=True)
    except OSError:
        pass


def safe_rollback(town: Town, tmux: TownTmux, rig: str, job: Job, error: str) -> str:
    """Roll back; if that cannot be written either (a full disk), leave a note for the
    deacon, which rolls it back once it can (finish_rollbacks). Returns what to add to the
    error message ("" when rolled back)."""
    for attempt in range(2):
        try:
            rollback(town, tmux, rig, job, error)
            return ""
        except (OSError, GtFailure) as exc:
            failure = exc
            if attempt == 0:
                time.sleep(0.05)
    write_note(town, rig, job, "rollback", error)
    return (
        f"; the rollback could not be written either ({describe(failure)}): the deacon"
        " finishes it once it can (or run `gt polecat resume`)"
    )


def finish_rollbacks(town: Town, tmux: TownTmux) -> list[str]:
    """Roll back the slings whose own rollback failed (see safe_rollback). The deacon
    runs this every patrol; a note is removed only once its rollback is written."""
    import orjson

    folder = rollback_dir(town)
    if not folder.is_dir():
        return []
    done: list[str] = []
    for path in sorted(folder.glob("*.json")):
        try:
            note = orjson.loads(path.read_bytes())
            rig, name, bead_id = str(note["rig"]), str(note["polecat"]), str(note["bead"])
            owner = int(note["pid"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if note.get("state") != "rollback":
            if not pid_alive(owner):
                path.unlink(missing_ok=True)  # a start that ended (or died: resumed below)
            continue
        bead = town.beads.find(bead_id)
        polecat = town.polecats.find(f"{rig}/{name}") if town.rigs.exists(rig) else None
        if bead is not None and polecat is not None:
            if polecat.is_starting and (polecat.starting or {}).get("pid") == owner:
                continue  # that sling still runs (it is retrying): not ours yet
            job = Job(bead=bead, polecat=polecat, created=bool(note.get("created")))
            job.window_started = bool(note.get("window_started"))
            rollback(town, tmux, rig, job, str(note.get("error") or "sling failed"), owner)
            done.append(f"rolled back the failed sling of {bead_id} to {rig}/{name}")
        path.unlink(missing_ok=True)
    return done
