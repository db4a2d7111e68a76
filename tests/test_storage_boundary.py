"""Outside gastown_tui/town/storage/, records are reached through its repositories only
(storage/base.py). pyproject.toml's import-linter contract keeps TinyDB inside the package;
this keeps out what an import contract cannot see: table and file access by attribute."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gastown_tui"
STORAGE = PACKAGE / "town" / "storage"
# A store file or table reached directly: `.table(...)`, `.raw(...)`, a StoreFile, the store
# behind a backend, or a store file's path from TownPaths (storage/layout.py owns those).
FORBIDDEN = re.compile(
    r"\.(table|raw)\(|\bStoreFile\b|\.store\.file\(|\b(town_file|rig_file|inbox_file)\("
    r"|storage\.store\b|paths\.(town_file|rig_file|mail_file|archive_file|ids_file"
    r"|rig_store|mail_dir|archive_dir)\b"
)


def test_nothing_outside_storage_reaches_into_tables_or_store_files() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if STORAGE in path.parents:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not found, "use the repositories of town/storage/ instead:\n" + "\n".join(found)
