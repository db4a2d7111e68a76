"""Small in-place edits of town.toml that keep the person's comments and layout: one
`key = "value"` line in one section, replaced or added (the app saves the picked theme)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from gastown_tui.town.errors import GtError
from gastown_tui.town.storage.files import atomic_write_bytes, flocked

SECTION_RE = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")


def set_string(path: Path, section: str, key: str, value: str) -> None:
    """Set `[section] key = "value"`. The file stays valid TOML or is left untouched."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", key) or not re.fullmatch(r"[A-Za-z0-9_.-]+", section):
        raise GtError(f"cannot write {section}.{key} to {path}")
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    line = f"{key} = {quoted}"
    with flocked(path.with_name(".town-toml.lock")):
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        lines = text.splitlines()
        start = next(
            (i for i, raw in enumerate(lines)
             if (m := SECTION_RE.match(raw)) and m.group(1).strip() == section),
            None,
        )  # fmt: skip
        if start is None:
            lines += ["", f"[{section}]", line]
        else:
            end = next(
                (i for i in range(start + 1, len(lines)) if SECTION_RE.match(lines[i])), len(lines)
            )
            key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
            found = next((i for i in range(start + 1, end) if key_re.match(lines[i])), None)
            if found is not None:
                lines[found] = line
            else:
                lines.insert(start + 1, line)
        new = "\n".join(lines) + "\n"
        try:
            tomllib.loads(new)
        except tomllib.TOMLDecodeError as exc:
            raise GtError(f"{path} could not be updated: {exc}", hint="edit it by hand") from None
        atomic_write_bytes(path, new.encode("utf-8"))
