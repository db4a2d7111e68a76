"""The files backend's own primitives (gastown_tui/town/storage/files.py): atomic replace,
one write per transaction, flock, temp files and their sweep. What every backend must do
(snapshots, failed transactions, damage refused loudly, processes and kills) is in
tests/conformance/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from gastown_tui.town.errors import LockHolderStopped, LockTimeout, StoreCorrupt
from gastown_tui.town.storage.files import Store, flocked


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store", tmp_path / "locks")


def test_transaction_writes_once_and_replaces_the_file(store: Store) -> None:
    sf = store.file(store.root / "things.json")
    with sf.transaction() as txn:
        table = txn.table("things")
        for n in range(5):
            table.insert({"n": n})
        assert not sf.path.exists(), "nothing may reach disk before the transaction commits"
    inode = sf.path.stat().st_ino
    data = orjson.loads(sf.path.read_bytes())
    assert sorted(d["n"] for d in data["things"].values()) == [0, 1, 2, 3, 4]
    with sf.transaction() as txn:
        txn.table("things").insert({"n": 5})
    assert sf.path.stat().st_ino != inode, "a write replaces the file rather than editing it"
    assert oct(sf.path.stat().st_mode & 0o777) == oct(0o600)  # private, whatever the umask


def test_failed_transaction_writes_nothing(store: Store) -> None:
    sf = store.file(store.root / "things.json")
    with sf.transaction() as txn:
        txn.table("things").insert({"n": 1})
    before = sf.path.read_bytes()
    with pytest.raises(RuntimeError), sf.transaction() as txn:
        txn.table("things").insert({"n": 2})
        raise RuntimeError("boom")
    assert sf.path.read_bytes() == before
    # The cache must not keep the half-done change either.
    assert len(sf.table("things")) == 1
    assert not list(sf.path.parent.glob(".*.tmp"))


def test_reads_see_writes_from_another_store_object(store: Store, tmp_path: Path) -> None:
    other = Store(store.root, store.lock_dir)  # as if another process
    path = store.root / "things.json"
    with store.file(path).transaction() as txn:
        txn.table("things").insert({"n": 1})
    assert len(other.file(path).table("things")) == 1
    with other.file(path).transaction() as txn:
        txn.table("things").insert({"n": 2})
    assert len(store.file(path).table("things")) == 2
    with store.file(path).transaction() as txn:
        # TinyDB's next id must come from the file, not a stale object: no id reuse.
        new_id = txn.table("things").insert({"n": 3})
    assert new_id == 3


def test_orphan_temp_files_are_swept_only_when_unlocked(store: Store) -> None:
    sf = store.file(store.root / "things.json")
    with sf.transaction() as txn:
        txn.table("things").insert({"n": 1})
    orphan = sf.path.with_name(".things.json.abc123.tmp")
    orphan.write_bytes(b"half a write")
    with flocked(sf.lock_path):
        # While a writer holds the lock its temp file is live: leave it.
        done: list[list[Path]] = []
        thread = threading.Thread(target=lambda: done.append(store.sweep_orphans()))
        thread.start()
        thread.join()
        assert done == [[]]
        assert orphan.exists()
    assert store.sweep_orphans() == [orphan]
    assert not orphan.exists()
    assert sf.path.exists()


def test_flock_is_reentrant_in_a_thread_and_exclusive_across_threads(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    order: list[str] = []

    def take() -> None:
        with flocked(lock):
            order.append("t")

    with flocked(lock), flocked(lock):
        order.append("outer")
        thread = threading.Thread(target=take)
        thread.start()
        thread.join(0.2)
        assert order == ["outer"], "another thread must wait for the lock"
    thread.join(5)
    assert order == ["outer", "t"]


HOLD_LOCK = """
import sys, time
from pathlib import Path
from gastown_tui.town.storage.files import flocked
with flocked(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(lock: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_stopped_lock_holder_is_named_at_once_not_waited_out(tmp_path: Path) -> None:
    """Ctrl-Z on a process while it holds a store lock: a writer is told who holds it and how
    to resume it within a few seconds, instead of waiting out the 30 s timeout (and again on
    every call)."""
    lock = tmp_path / "rig.lock"
    holder = _holder(lock, 60)
    try:
        os.kill(holder.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(LockHolderStopped) as caught, flocked(lock, timeout=30):
            pass
        waited = time.monotonic() - started
        assert waited < 10, f"waited {waited:.1f}s"
        assert caught.value.pid == holder.pid
        assert isinstance(caught.value, LockTimeout), "callers that handle a timeout handle it"
        assert f"process {holder.pid} (python" in str(caught.value)
        assert f"kill -CONT {holder.pid}" in str(caught.value)
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait()


def test_a_running_or_resumed_holder_is_waited_for(tmp_path: Path) -> None:
    """A busy holder is waited for as before; one stopped and resumed within the grace
    lets the waiter in."""
    lock = tmp_path / "rig.lock"
    busy = _holder(lock, 2.5)
    started = time.monotonic()
    with flocked(lock, timeout=30):
        assert time.monotonic() - started > 1.5, "the lock was held"
    busy.wait(5)
    paused = _holder(lock, 0.5)
    os.kill(paused.pid, signal.SIGSTOP)
    # Resumed after the waiter's first look saw it stopped (STOPPED_HOLDER_AFTER, 1 s), within
    # the grace that follows.
    threading.Timer(1.2, os.kill, (paused.pid, signal.SIGCONT)).start()
    with flocked(lock, timeout=30):
        pass
    assert paused.wait(5) == 0
    with pytest.raises(LockTimeout) as caught:
        holder = _holder(lock, 5)
        try:
            with flocked(lock, timeout=1.5):
                pass
        finally:
            holder.kill()
            holder.wait()
    assert not isinstance(caught.value, LockHolderStopped)


def test_temp_file_lives_beside_the_target(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sf = store.file(store.root / "sub" / "things.json")
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: os.PathLike[str]) -> None:
        seen.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    with sf.transaction() as txn:
        txn.table("things").insert({"n": 1})
    assert Path(seen[0]).parent == sf.path.parent, "os.replace is only atomic within a filesystem"


def test_repeated_writes_in_one_process_write_exactly_the_data(store: Store) -> None:
    """Reused serialized documents must never leave a stale copy in the file."""
    import random

    rng = random.Random(5)
    sf = store.file(store.root / "things.json")
    expected: dict[str, dict] = {}
    for step in range(60):
        with sf.transaction() as txn:
            op = rng.choice(["insert", "put", "delete", "tinydb"])
            if op == "insert" or not expected:
                key = txn.insert("things", {"n": step, "text": "é" * rng.randint(0, 5)})
                expected[key] = txn.raw("things")[key]
            elif op == "put":
                key = rng.choice(sorted(expected))
                doc = {**expected[key], "n": step}
                txn.put("things", key, doc)
                expected[key] = doc
            elif op == "delete":
                key = rng.choice(sorted(expected))
                txn.delete("things", [key])
                del expected[key]
            else:
                key = rng.choice(sorted(expected))
                txn.table("things").update({"n": -step}, doc_ids=[int(key)])
                expected[key] = {**expected[key], "n": -step}
        on_disk = orjson.loads(sf.path.read_bytes())["things"]
        assert on_disk == expected, f"step {step} ({op})"


def test_a_write_that_left_the_same_inode_size_and_mtime_is_not_lost(
    store: Store, tmp_path: Path
) -> None:
    # Where timestamps are coarse (a 4 ms tick, or 1 s on some file systems) and inode
    # numbers come back, another process's write can leave the file with the very (inode,
    # size, mtime) this process cached after its own write. A transaction must then build on
    # the file, not on its cached copy (files.py _CacheEntry.crc). The collision is made here
    # by rewriting the bytes in place and putting the mtime back.
    path = store.root / "rigs" / "alpha.json"
    with store.file(path).transaction() as txn:
        txn.put("beads", "1", {"id": "al-1", "title": "aaaa", "status": "open"})
    before = os.stat(path)
    raw = path.read_bytes()
    with open(path, "r+b") as handle:  # another writer: same size, same inode
        handle.write(raw.replace(b'"aaaa"', b'"bbbb"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    with store.file(path).transaction() as txn:  # this process's next write
        txn.put("beads", "2", {"id": "al-2", "title": "next", "status": "open"})
    beads = Store(store.root, tmp_path / "locks").file(path).table("beads")
    assert beads["1"]["title"] == "bbbb", "the other writer's change was dropped"
    assert beads["2"]["title"] == "next"


def test_a_file_made_while_a_reader_looked_is_read_not_reported_lost(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file's first writer lists it in the index just after the rename that makes it. A
    # reader that missed the file and then read that line must look again (seen in 24
    # racing `gt sling`s: "rigs/alpha.json is unreadable: the file is missing").
    path = store.root / "rigs" / "alpha.json"
    writer = Store(store.root, tmp_path / "locks")  # another process's store
    real_expects = type(store.index).expects
    raced: list[bool] = []

    def expects_after_the_writer_finished(index: object, asked: Path) -> bool:
        if not raced:  # the writer's whole transaction lands between the look and this read
            raced.append(True)
            with writer.file(path).transaction() as txn:
                txn.table("beads").insert({"id": "al-1"})
        return real_expects(index, asked)  # type: ignore[arg-type]

    monkeypatch.setattr(type(store.index), "expects", expects_after_the_writer_finished)
    assert [d["id"] for d in store.file(path).table("beads").values()] == ["al-1"]
    assert raced
    # A file the index lists and that is gone on both looks is still reported lost.
    path.unlink()
    with pytest.raises(StoreCorrupt, match="the file is missing"):
        store.file(path).table("beads")
