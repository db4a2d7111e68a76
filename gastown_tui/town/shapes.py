"""The shape of the documents of each store table, checked when a file is parsed.

Valid JSON of the wrong shape (a hand edit, a bad restore, another program) must be reported
as an unreadable file that names itself, like invalid JSON, not surface later as a KeyError
deep inside a command, and `gt doctor` must see it. Only the keys the code relies on are
checked; unknown keys and tables are allowed (newer versions may add them).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any


_S = (str,)
_OS = (str, type(None))
_I = (int,)
_OI = (int, type(None))
_B = (bool,)
_L = (list,)
_OL = (list, type(None))
_OD = (dict, type(None))

# table -> (required keys, {key: allowed types when present})
SHAPES: dict[str, tuple[tuple[str, ...], dict[str, tuple[type, ...]]]] = {
    "rigs": (
        ("name", "prefix", "path"),
        {"name": _S, "prefix": _S, "path": _S, "git": _B, "url": _OS, "branch": _OS,
         "added_at": _OS},
    ),
    "convoys": (
        ("id",),
        {"id": _S, "title": _OS, "beads": _OL, "owner": _OS, "notify": _OL, "auto": _B,
         "quiet": _B, "created": _OS, "landed_at": _OS, "closed_at": _OS, "landings": _I,
         "notified": _I, "updated": _OS},
    ),
    # Beads are the big tables: only what sorting, filtering and the records rely on.
    "beads": (
        ("id",),
        {"id": _S, "status": _OS, "priority": _I, "labels": _OL, "assignee": _OS,
         "deps": _OL, "comments": _OL, "created_at": _OS, "metadata": _OD},
    ),
    "polecats": (
        ("name",),
        {"name": _S, "rig": _OS, "state": _OS, "runtime": _OS, "worktree": _OS, "branch": _OS,
         "session": _OS, "window": _OS, "pid": _OI, "history": _OL, "restarts": _OL,
         "starting": _OD},
    ),
    "messages": (
        ("id",),
        {"id": _S, "from": _OS, "to": _OL, "cc": _OL, "subject": _OS, "body": _OS,
         "type": _OS, "priority": _OS, "thread": _OS, "reply_to": _OS, "created": _OS,
         "read": _B, "read_at": _OS, "inbox": _OS, "meta": _OD},
    ),
    "merge_requests": (("id",), {"id": _S, "bead": _OS, "branch": _OS, "status": _OS}),
}  # fmt: skip
SHAPES["mail"] = SHAPES["messages"]  # the archive's table of old mail
_LIST_OF_DICTS = {("beads", "deps"), ("beads", "comments"), ("polecats", "history")}
_LIST_OF_STR = {
    ("beads", "labels"),
    ("convoys", "beads"),
    ("convoys", "notify"),
    ("messages", "to"),
    ("messages", "cc"),
    ("mail", "to"),
    ("mail", "cc"),
}


def _compile() -> dict[str, tuple[tuple[str, ...], dict[str, frozenset[type]]]]:
    return {
        table: (required, {k: frozenset(v) for k, v in types.items()})
        for table, (required, types) in SHAPES.items()
    }


_COMPILED = _compile()


def shape_problem(tables: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a parsed store file, or None.

    On the path of every parse (about 1 ms per 1,000 beads): exact type lookups in a set, and
    the slower checks of list items only for lists that are not empty."""
    for table, docs in tables.items():
        spec = _COMPILED.get(table)
        for key, doc in docs.items():
            if type(doc) is not dict:
                return f"document {key} of table {table!r} is not an object"
            if spec is None:
                continue
            required, types = spec
            for name in required:
                if name not in doc:
                    return f"document {key} of table {table!r} has no {name!r}"
            for name, allowed in types.items():
                value = doc.get(name)
                if type(value) in allowed or name not in doc:
                    if value and type(value) is list:
                        problem = _list_problem(table, name, value)
                        if problem:
                            return f"document {key} of table {table!r}: {problem}"
                    continue
                expected = min(allowed, key=lambda t: t is type(None)).__name__
                return (
                    f"document {key} of table {table!r}: {name!r} is "
                    f"{type(value).__name__}, expected {expected}"
                )
            if not key.isdigit():
                return f"table {table!r} has a document key {key!r} that is not a number"
    return None


def _list_problem(table: str, name: str, value: list[Any]) -> str | None:
    if (table, name) in _LIST_OF_DICTS:
        for item in value:
            if type(item) is not dict:
                return f"{name!r} holds a non-object"
            if name == "deps" and type(item.get("on")) is not str:
                return "a dependency has no 'on'"
    elif (table, name) in _LIST_OF_STR:
        for item in value:
            if type(item) is not str:
                return f"{name!r} holds a non-string"
    return None
