"""What every storage backend must do with many real processes: nothing lost, nothing torn,
nothing corrupted by `kill -9`, and the town's invariants kept (a bead on at most one hook,
ids unique). The workers (tests/procs/storage_worker.py) reach the store through the
repositories only. Runs once per backend (conftest.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from gastown_tui.town.models import ACTIVE_STATUSES
from gastown_tui.town.town import Town
from tests.conformance.conftest import FilesHarness

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "procs" / "storage_worker.py"


def _worker(town: Town, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), args[0], str(town.root), *args[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out


def test_four_processes_times_500_creates_give_exactly_2000_beads(stown: Town) -> None:
    writers = [_worker(stown, "create", "alpha", "500") for _ in range(4)]
    reported: list[str] = []
    for proc in writers:
        reported += [line for line in _finish(proc).split() if line != "READY"]
    assert len(reported) == 2000
    assert len(set(reported)) == 2000, "every create got its own id"
    town = Town.open(stown.root)
    stored = town.beads.list(rig="alpha")
    assert len(stored) == 2000
    assert {b.id for b in stored} == set(reported)
    assert len(town.ids.all()) == 2000


def test_unlocked_readers_never_see_a_torn_or_older_state(stown: Town) -> None:
    stown.beads.create("seed", rig="alpha")
    reader = _worker(stown, "read", "alpha", "4")
    writers = [_worker(stown, "create", "alpha", "150") for _ in range(2)]
    for proc in writers:
        _finish(proc, 120)
    stats = dict(part.split("=") for part in _finish(reader, 60).split())
    assert int(stats["reads"]) > 50, stats
    assert stats["torn"] == "0", stats
    assert stats["decreasing"] == "0", stats


def test_200_sigkills_mid_transaction_lose_nothing_reported(
    stown: Town, harness: FilesHarness
) -> None:
    rng = random.Random(1234)
    reported: set[str] = set()
    kills = 0
    # A reader that lives through every kill, as the app does: it must read what a fresh one
    # reads (a writer killed after its journal line but before its rename: journal.py).
    watcher = Town.open(stown.root)
    # At least 200 kills, and on until the writers have committed plenty between them: how
    # many commit in a window depends on how fast a writer starts (cheaper imports, a busy
    # machine), not on what is tested here.
    while kills < 200 or (len(reported) <= 100 and kills < 800):
        procs = [_worker(stown, "create", "alpha", "0") for _ in range(2)]
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.0, 0.04))  # a random point of the writers' work, not a wait
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
        for proc in procs:
            out, _ = proc.communicate(timeout=30)
            # Only whole lines were printed after a commit; a cut last line is not a report.
            lines = out.split("\n")
            reported.update(line for line in lines[:-1] if line.strip())
            kills += 1
        # The store always loads, at every point.
        town = Town.open(stown.root)
        ids = {b.id for b in town.beads.list(rig="alpha")}
        missing = reported - ids
        assert not missing, (
            f"after {kills} kills, reported beads are missing: {sorted(missing)[:5]}"
        )
        assert list(watcher.storage.beads.docs("alpha")) == list(town.storage.beads.docs("alpha"))
    assert len(reported) > 100, "the writers should have committed plenty between kills"
    town = Town.open(stown.root)
    assert list(town.storage.problems()) == []
    assert harness.unhealthy(town) == []
    assert len(town.ids.all()) >= len(reported)


def test_two_processes_racing_for_one_hook_leave_one_bead_on_it(stown: Town) -> None:
    with stown.storage.rig_txn("alpha") as tx:
        tx.put_polecat({"name": "furiosa", "rig": "alpha", "state": "idle"})
    for _round in range(5):
        ids = [stown.beads.create(f"race {n}", rig="alpha").id for n in range(6)]
        racers = [
            _worker(stown, "hook", "alpha", "furiosa", *ids[:3]),
            _worker(stown, "hook", "alpha", "furiosa", *ids[3:]),
        ]
        results = [line.split() for proc in racers for line in _finish(proc).splitlines()]
        hooked = [bead for verdict, bead in results if verdict == "hooked"]
        assert len(hooked) == 1, results
        held = [
            d["id"]
            for d in Town.open(stown.root).storage.beads.docs("alpha")
            if d.get("assignee") == "alpha/furiosa" and d.get("status") in ACTIVE_STATUSES
        ]
        assert held == hooked
        stown.beads.update(hooked[0], status="open", assignee=None)  # free the hook again


def test_mail_from_many_processes_and_kills_loses_no_message(stown: Town) -> None:
    senders = [_worker(stown, "send", "mayor", "150") for _ in range(3)]
    sent: list[str] = []
    for proc in senders:
        sent += [line for line in _finish(proc).split() if line != "READY"]
    rng = random.Random(99)
    for _ in range(20):
        proc = _worker(stown, "send", "mayor", "0")
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.0, 0.03))  # a random point of the sender's work
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        sent += [line for line in out.split("\n")[:-1] if line.strip()]
    stored = Town.open(stown.root).storage.mail.docs("mayor")
    ids = [d["id"] for d in stored.values()]
    assert not set(sent) - set(ids), "a message reported sent is missing"
    assert not [i for i, n in Counter(ids).items() if n > 1], "a message was stored twice"
    assert list(stored) == sorted(stored), "sequence numbers ascend in arrival order"
