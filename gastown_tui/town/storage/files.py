"""TinyDB files that many processes write at once, safely.

TinyDB's own JSONStorage rewrites its file in place (not atomic) and a long-lived `TinyDB`
object goes stale when another process writes. So every write here is a *transaction*:

1. take an exclusive `flock` on the file's lock (under `.runtime/locks/`),
2. open a TinyDB on `AtomicStorage`, which reads the file once and buffers writes,
3. mutate through TinyDB's table API,
4. on success write the whole file once: unique temp file in the same folder, fsync,
   `os.replace`, fsync the folder; then release the lock.

Readers take no lock: `os.replace` means they see the old file or the new one, never a torn one.
A parse is cached per file, keyed on (inode, size, mtime) so that a process which writes the
same file repeatedly does not re-parse it. A file that does not parse, holds documents of the
wrong shape (town/shapes.py), or is missing although the file index (`store/files.txt`) says
the store made it, raises `StoreCorrupt` naming the file; nothing is ever silently reset.
"""

from __future__ import annotations

import _thread  # threading's own primitives, without its import (~0.5 ms of every gt call)
import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from gastown_tui.town import jsoncodec
from gastown_tui.town.errors import LockHolderStopped, LockTimeout, StoreCorrupt
from gastown_tui.town.procs import proc_stat
from gastown_tui.town.shapes import shape_problem
from gastown_tui.town.storage.journal import JournalReader, entry_line
from gastown_tui.town.storage.journal import append as append_journal

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    Tables = dict[str, dict[str, dict[str, Any]]]


TEMP_SUFFIX = ".tmp"
# A town holds agents' mail and code: its files are the owner's alone, whatever the umask.
FILE_MODE = 0o600
DIR_MODE = 0o700
PRIVATE_UMASK = 0o077
DEFAULT_LOCK_TIMEOUT = 30.0
# A waiter looks for a stopped holder after this long, and gives up once it has seen the
# holder stopped for this long (a debugger's or a shell's brief stop is let pass).
STOPPED_HOLDER_AFTER = 1.0

_held = _thread._local()  # threading.local


def _held_locks() -> dict[str, int]:
    held = getattr(_held, "locks", None)
    if held is None:
        held = {}
        _held.locks = held
    return held


@contextlib.contextmanager
def flocked(lock_path: Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path`. Re-entrant within one thread.

    flock locks belong to an open file description, so two threads of one process exclude
    each other as two processes do; the re-entrancy count only stops a thread deadlocking on
    a lock it already holds.
    """
    key = str(lock_path)
    held = _held_locks()
    if key in held:
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    make_private_dirs(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        started = time.monotonic()
        deadline = started + timeout
        look_at = started + STOPPED_HOLDER_AFTER
        stopped_since: float | None = None
        pause = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                now = time.monotonic()
                if now >= look_at:
                    # A holder that was stopped (Ctrl-Z on the app, SIGSTOP) never lets go
                    # by itself: say who it is rather than make every writer wait it out.
                    look_at = now + STOPPED_HOLDER_AFTER / 2
                    holder = stopped_lock_holder(fd)
                    if holder is None:
                        stopped_since = None
                    elif stopped_since is None:
                        stopped_since = now
                    elif now - stopped_since >= STOPPED_HOLDER_AFTER:
                        raise LockHolderStopped(lock_path, *holder) from None
                if now >= deadline:
                    raise LockTimeout(lock_path, timeout) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
        held[key] = 1
        try:
            yield
        finally:
            del held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def proc_flocks() -> list[tuple[int, int, int, int]]:
    """Every flock held on this machine as (pid, major, minor, inode), from /proc/locks
    (Linux; elsewhere none are known). flock records the pid that took the lock."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return []
    held = []
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF"; a waiter's line has "->".
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            held.append((int(fields[4]), int(major, 16), int(minor, 16), int(inode)))
        except ValueError:
            continue
    return held


def stopped_lock_holder(fd: int) -> tuple[int, str] | None:
    """(pid, command) of a stopped process holding the flock on the file open as `fd`."""
    st = os.fstat(fd)
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for pid, *file in proc_flocks():
        if tuple(file) != wanted:
            continue
        stat = proc_stat(pid)
        if stat is not None and stat[1][:1] == ["T"]:
            return pid, "".join(c if c.isprintable() else "?" for c in stat[0])
    return None


def try_flock(lock_path: Path) -> int | None:
    """Take an exclusive flock without waiting. Returns the fd to keep, or None if busy."""
    make_private_dirs(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def private_umask() -> None:
    """Make everything this process creates from now on private (git's files, tmux's server
    and the agents it starts inherit it). Explicit modes below cover a process that did not
    call this."""
    os.umask(PRIVATE_UMASK)


def make_private_dirs(folder: Path) -> None:
    """`mkdir -p` with every folder it creates 0700, whatever the umask."""
    missing: list[Path] = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_line(path: Path, payload: bytes) -> None:
    """Append whole lines to a log file (id index, rig journals). A line left torn by a killed
    writer is fenced off with a newline first, so the next line is whole for its readers."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            payload = b"\n" + payload
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: Path,
    payload: bytes,
    *,
    durable: bool = True,
    before_replace: Callable[[os.stat_result], None] | None = None,
) -> os.stat_result:
    """Write `payload` to `path` atomically and durably. Returns the new file's stat.

    The caller holds the file's lock, so a temp file left by a killed writer is an orphan
    that `sweep_orphans` may delete. `durable=False` skips both fsyncs, for state that is
    rewritten all the time and means nothing after a power loss (heartbeats, the live
    state): readers still never see a torn file. `before_replace` is called with the new
    file's stat once it is written, before it takes the old one's place (the journal).
    """
    make_private_dirs(path.parent)
    fd, tmp_name = _create_temp(path)
    try:
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
        stat = os.fstat(fd)
        if before_replace is not None:
            before_replace(stat)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    os.close(fd)
    try:
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    if durable:
        fsync_dir(path.parent)
    return stat


def _create_temp(path: Path) -> tuple[int, str]:
    """A new, unique temp file beside `path`: `.<name>.<random>.tmp` (what the sweep expects)."""
    for _ in range(100):
        name = str(path.with_name(f".{path.name}.{os.urandom(6).hex()}{TEMP_SUFFIX}"))
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name beside {path}")


def _stat_key(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def parse_tables(path: Path, raw: bytes) -> Tables:
    """Parse a store file's bytes, raising StoreCorrupt with a useful detail."""
    if not raw.strip():
        raise StoreCorrupt(path, "the file is empty")
    try:
        data = jsoncodec.loads(raw)
    except ValueError as exc:  # orjson.JSONDecodeError (town/jsoncodec.py)
        raise StoreCorrupt(path, f"invalid JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise StoreCorrupt(path, "expected an object of tables")
    problem = shape_problem(data)
    if problem is not None:
        raise StoreCorrupt(path, f"wrong shape: {problem}")
    return data


def _crc(raw: bytes) -> int:
    import zlib  # ~0.2 ms, and only a write needs it

    return zlib.crc32(raw)


class _CacheEntry:
    __slots__ = ("crc", "data", "key", "lent")

    def __init__(
        self, key: tuple[int, int, int], data: Tables, lent: bool = False, crc: int | None = None
    ) -> None:
        self.key = key
        self.data = data
        # True once the parsed object has been handed to an unlocked reader: a transaction
        # must then parse its own copy rather than mutate what a reader may be looking at.
        self.lent = lent
        # The CRC-32 of the bytes this process wrote (None: not written here). A transaction
        # builds on the cached tables only if the file still holds those very bytes: the key
        # (inode, size, mtime) alone can repeat where timestamps are coarse (a tick of 4 ms,
        # or 1 s on some file systems) and inode numbers come back, and building on an older
        # copy would drop another process's write.
        self.crc = crc


class StoreCache:
    """Parsed store files of one process, keyed on file identity. Thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[Path, _CacheEntry] = {}
        self._lock = _thread.allocate_lock()  # threading.Lock
        self._loading: dict[Path, _thread.LockType] = {}
        self.journals: dict[Path, JournalReader] = {}  # used under loading(path)

    def latest(self, path: Path) -> _CacheEntry | None:
        """The last parse of `path`, whatever file it was of."""
        with self._lock:
            return self._entries.get(path)

    def loading(self, path: Path) -> _thread.LockType:
        """Held while one thread brings `path` up to date: the app's loaders wake together
        on one write, and one parse (or one journal catch-up) serves them all."""
        with self._lock:
            lock = self._loading.get(path)
            if lock is None:
                lock = self._loading[path] = _thread.allocate_lock()
            return lock

    def get(self, path: Path, key: tuple[int, int, int]) -> _CacheEntry | None:
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None and entry.key == key:
                return entry
            return None

    def put(
        self,
        path: Path,
        key: tuple[int, int, int],
        data: Tables,
        lent: bool,
        crc: int | None = None,
    ) -> None:
        with self._lock:
            self._entries[path] = _CacheEntry(key, data, lent, crc)

    def drop(self, path: Path) -> None:
        with self._lock:
            self._entries.pop(path, None)


def _atomic_storage_class() -> type:
    """TinyDB is imported on first use: read-only CLI calls and raw writes never need it."""
    global _ATOMIC_STORAGE
    if _ATOMIC_STORAGE is None:
        from tinydb.storages import Storage

        class AtomicStorage(Storage):
            """TinyDB storage bound to one transaction: one read, writes buffered to commit."""

            def __init__(self, txn: Transaction) -> None:
                self._txn = txn

            def read(self) -> Tables | None:
                return self._txn.data

            def write(self, data: dict[str, dict[str, Any]]) -> None:
                self._txn.data = data
                self._txn.dirty = True

            def close(self) -> None:
                pass

        _ATOMIC_STORAGE = AtomicStorage
    return _ATOMIC_STORAGE


_ATOMIC_STORAGE: type | None = None


class Transaction:
    """What a transaction body sees: a TinyDB over the file, and raw table access.

    TinyDB's table operations rebuild the whole table dict twice per call (about 1 ms at
    2,000 documents), so hot paths (bead create/update/close) use `put`/`delete` on the raw
    tables instead; both paths write the same TinyDB file format and commit together.
    """

    def __init__(
        self, store_file: StoreFile, data: Tables, base_key: tuple[int, int, int] | None = None
    ) -> None:
        self.store_file = store_file
        self.data = data
        self.dirty = False
        self._db: Any = None
        self._next_ids: dict[str, int] = {}
        # For the journal (journal.py): the file read, and the doc ids put or deleted since,
        # per table in first-touch order (None: changed through TinyDB, not known).
        self.base_key = base_key
        self.changed: dict[str, dict[str, None]] | None = {}
        self.moved: dict[str, set[str]] = {}

    @property
    def db(self) -> Any:  # tinydb.TinyDB
        self.changed = None  # TinyDB rewrites whole tables: no per-record journal entry
        if self._db is None:
            from tinydb import TinyDB

            storage_class = _atomic_storage_class()
            self._db = TinyDB(storage=lambda: storage_class(self))
        return self._db

    def table(self, name: str) -> Any:  # tinydb.table.Table
        self._next_ids.pop(name, None)  # TinyDB may insert: recompute ids after
        return self.db.table(name)

    def raw(self, name: str) -> dict[str, dict[str, Any]]:
        """The raw documents of a table ({doc_id: doc}); change them only via put/delete."""
        return self.data.get(name, {})

    def insert(self, name: str, doc: dict[str, Any]) -> str:
        """Insert a document under a free TinyDB doc id; returns that id."""
        table = self.data.setdefault(name, {})
        # Probe upward from the table size: O(1) in practice, where TinyDB's max() over every
        # key costs 0.5 ms at 2,000 documents. Ids are never referenced outside the file.
        next_id = self._next_ids.get(name, len(table) + 1)
        while str(next_id) in table:
            next_id += 1
        key = str(next_id)
        table[key] = doc
        self._next_ids[name] = next_id + 1
        self.dirty = True
        self._touch(name, key)
        return key

    def put(self, name: str, doc_id: str, doc: dict[str, Any]) -> None:
        self.data.setdefault(name, {})[doc_id] = doc
        self.dirty = True
        self._touch(name, doc_id)

    def delete(self, name: str, doc_ids: list[str]) -> None:
        table = self.data.get(name, {})
        for doc_id in doc_ids:
            if table.pop(doc_id, None) is not None:
                self._touch(name, doc_id)
                self.moved.setdefault(name, set()).add(doc_id)
        self.dirty = True

    def _touch(self, name: str, doc_id: str) -> None:
        if self.changed is not None:
            self.changed.setdefault(name, {})[doc_id] = None

    def mark_dirty(self) -> None:
        self.dirty = True


class StoreFile:
    """One TinyDB file of the town store."""

    def __init__(
        self,
        path: Path,
        lock_path: Path,
        cache: StoreCache,
        index: FileIndex | None = None,
        *,
        journal: bool = False,
    ) -> None:
        self.path = path
        self.lock_path = lock_path
        self._cache = cache
        self._index = index
        self.journal = journal  # keep a per-record change journal beside it (journal.py)

    def exists(self) -> bool:
        return self.path.exists()

    def _open_or_missing(self) -> int | None:
        """The file opened for reading; None for a file the store never made (read as
        empty). One the store made once and that is gone was lost (deleted, a bad restore):
        reading it as empty would hide that, so it raises StoreCorrupt."""
        try:
            return os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            if self._index is None or not self._index.expects(self.path):
                return None
        # Its first writer lists it in the index just after the rename that makes it
        # (`transaction`): a file made between the first look and the index read is there
        # now. Only a second miss, after the index listed it, means it was lost.
        try:
            return os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise StoreCorrupt(self.path, "the file is missing") from None

    def _load(self, for_write: bool) -> Tables:
        return self._load_keyed(for_write)[0]

    def _load_keyed(self, for_write: bool) -> tuple[Tables, tuple[int, int, int] | None]:
        """The tables and the identity of the file they are of (None: no file)."""
        fd = self._open_or_missing()
        if fd is None:
            return {}, None
        try:
            key = _stat_key(os.fstat(fd))
            entry = self._cache.get(self.path, key)
            if entry is not None and not for_write:
                entry.lent = True
                return entry.data, key
            with os.fdopen(os.dup(fd), "rb") as handle:
                raw = handle.read()
        finally:
            os.close(fd)
        if for_write and entry is not None and not entry.lent and entry.crc == _crc(raw):
            return entry.data, key  # the bytes this process wrote: no parse (_CacheEntry.crc)
        data = parse_tables(self.path, raw)
        if for_write:
            # A transaction mutates this object; the cache is refreshed at commit.
            self._cache.drop(self.path)
        else:
            self._cache.put(self.path, key, data, lent=True)
        return data, key

    def read(self) -> Tables:
        """The current tables, without a lock. Callers must not mutate the result.

        A journaled file (journal.py) that changed since this process last read it is
        brought up to date from the journal when it can be: the documents no write touched
        stay the very objects of the last read."""
        if not self.journal:
            return self._load(for_write=False)
        cache = self._cache
        with cache.loading(self.path):
            try:
                key = _stat_key(os.stat(self.path))
            except FileNotFoundError:
                return self._load(for_write=False)
            entry = cache.get(self.path, key)
            if entry is not None:
                entry.lent = True
                return entry.data
            reader = cache.journals.get(self.path)
            if reader is None:
                reader = cache.journals[self.path] = JournalReader(self.path)
            old = cache.latest(self.path)
            if old is not None:
                data = reader.catch_up(old.key, old.data, key)
                if data is not None:
                    cache.put(self.path, key, data, lent=True)
                    return data
            reader.skip_to_end()  # before the parse: a later entry is read next time
            return self._load(for_write=False)

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.read().get(name, {})

    @contextlib.contextmanager
    def transaction(self, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[Transaction]:
        with flocked(self.lock_path, timeout):
            txn = Transaction(self, *self._load_keyed(for_write=True))
            try:
                yield txn
            except BaseException:
                self._cache.drop(self.path)
                raise
            if txn.dirty:
                try:
                    size = os.stat(self.path).st_size  # picks the JSON library: jsoncodec.py
                    created = False
                except FileNotFoundError:
                    size, created = 0, True
                raw = jsoncodec.dumps(txn.data, size_hint=size)
                try:
                    stat = atomic_write_bytes(
                        self.path, raw, before_replace=self._journal_hook(txn)
                    )
                except BaseException:
                    self._cache.drop(self.path)
                    raise
                self._cache.put(self.path, _stat_key(stat), txn.data, lent=False, crc=_crc(raw))
                if created:
                    self.record_created()

    def _journal_hook(self, txn: Transaction) -> Callable[[os.stat_result], None] | None:
        """What writes the transaction's journal line, if it can have one."""
        if not self.journal or txn.base_key is None or txn.changed is None:
            return None
        prev, changed = txn.base_key, txn.changed

        def write(stat: os.stat_result) -> None:
            line = entry_line(prev, _stat_key(stat), txn.data, changed, txn.moved)
            append_journal(self.path, line)

        return write

    def record_created(self) -> None:
        """Note in the store's file index that this file now exists (see FileIndex)."""
        if self._index is not None:
            self._index.add(self.path)


class FileIndex:
    """`store/files.txt`: every store file the store ever created (one relative path a line;
    `-path` when one is removed on purpose, e.g. `gt rig remove`). Append-only, like the id
    index. A file it lists that is missing was lost: readers raise StoreCorrupt naming it
    instead of reading it as empty, and `gt doctor` restores it."""

    NAME = "files.txt"

    def __init__(self, root: Path, lock_path: Path) -> None:
        self.root = root
        self.path = root / self.NAME
        self.lock_path = lock_path

    def _rel(self, path: Path) -> str | None:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return None

    def known(self) -> set[str]:
        """Relative paths of the files that should exist."""
        try:
            text = self.path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return set()
        out: set[str] = set()
        for line in text.splitlines():
            if line.startswith("-"):
                out.discard(line[1:])
            elif line:
                out.add(line)
        return out

    def expects(self, path: Path) -> bool:
        rel = self._rel(path)
        return rel is not None and rel in self.known()

    def _append(self, line: str) -> None:
        with flocked(self.lock_path):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                payload = line.encode() + b"\n"
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    payload = b"\n" + payload  # fence off a line torn by a killed writer
                os.write(fd, payload)
            finally:
                os.close(fd)

    def add(self, path: Path) -> None:
        rel = self._rel(path)
        if rel is None or rel.startswith(("corrupt/", "removed/")):
            return
        try:
            self._append(rel)
        except OSError:
            pass  # the file itself is written; only the detection of its loss is weaker

    def remove(self, path: Path) -> None:
        rel = self._rel(path)
        if rel is not None:
            self._append("-" + rel)

    def under(self, folder: Path) -> list[Path]:
        """Files the index lists inside `folder` (directly), whether or not they exist."""
        rel = self._rel(folder)
        if rel is None:
            return []
        prefix = "" if rel == "." else rel + "/"
        return [
            self.root / name
            for name in self.known()
            if name.startswith(prefix) and "/" not in name[len(prefix) :]
        ]


class Store:
    """The store of one town: hands out StoreFiles that share a lock folder and a cache."""

    def __init__(self, root: Path, lock_dir: Path) -> None:
        self.root = root
        self.lock_dir = lock_dir
        self.cache = StoreCache()
        self.index = FileIndex(root, lock_dir / "files.lock")

    def files_in(self, folder: Path) -> list[Path]:
        """The `*.json` files of a store folder: those on disk and those the index says
        should be there (so a lost one is reported when read, not skipped)."""
        found = set(folder.glob("*.json")) if folder.exists() else set()
        found.update(p for p in self.index.under(folder) if p.suffix == ".json")
        return sorted(p for p in found if not p.name.startswith("."))

    def lock_path_for(self, path: Path) -> Path:
        try:
            rel = path.relative_to(self.root.parent)
        except ValueError:
            rel = Path(path.name)
        return self.lock_dir / (str(rel).replace(os.sep, "~") + ".lock")

    def file(self, path: Path, *, journal: bool = False) -> StoreFile:
        return StoreFile(path, self.lock_path_for(path), self.cache, self.index, journal=journal)

    def all_files(self) -> list[Path]:
        if not self.root.exists():
            return []
        return sorted(p for p in self.root.rglob("*.json") if not p.name.startswith("."))

    def sweep_orphans(self) -> list[Path]:
        """Remove temp files left by killed writers. Returns what was removed.

        A temp file only exists while its writer holds the target's lock, so one we find
        while holding that lock ourselves is an orphan.
        """
        removed: list[Path] = []
        if not self.root.exists():
            return removed
        for tmp in self.root.rglob(f".*{TEMP_SUFFIX}"):
            target_name = tmp.name[1:].rsplit(".", 2)[0]
            target = tmp.with_name(target_name)
            fd = try_flock(self.lock_path_for(target))
            if fd is None:
                continue
            try:
                if tmp.exists():
                    tmp.unlink()
                    removed.append(tmp)
            finally:
                os.close(fd)
        return removed
