"""The file primitives other layers use for their own files (locks, atomic writes, private
folders), re-exported from their home, gastown_tui/town/storage/files.py.

Kept so that the modules of dispatch/, tmux/, supervise/ and runtimes/ that only take a lock
or write a runtime file atomically need no edit. Store data is reached through
gastown_tui/town/storage/ repositories only (pyproject.toml's import-linter contract).
"""

from gastown_tui.town.storage.files import (
    DIR_MODE,
    FILE_MODE,
    atomic_write_bytes,
    flocked,
    fsync_dir,
    make_private_dirs,
    private_umask,
    try_flock,
)

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "atomic_write_bytes",
    "flocked",
    "fsync_dir",
    "make_private_dirs",
    "private_umask",
    "try_flock",
]
