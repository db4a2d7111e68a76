"""Records of the town. Stored as plain dicts; these classes give them names and types.

The `to_dict` shapes are the documented `--json` output and are kept stable across releases:
new keys may be added, existing keys are never renamed or removed.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any


BEAD_STATUSES = ("open", "hooked", "in_progress", "blocked", "deferred", "pinned", "closed")
ACTIVE_STATUSES = ("hooked", "in_progress")
BEAD_TYPES = (
    "task",
    "bug",
    "feature",
    "epic",
    "chore",
    "docs",
    "question",
    "decision",
    "agent",
    "convoy",
    "message",
)
DEP_TYPES = ("blocks", "parent-child", "related", "tracks", "discovered-from")
PRIORITIES = (0, 1, 2, 3, 4)


class Record:
    """A small mutable record: fields in `__slots__`, equality and repr by field.

    Not `@dataclass`: importing dataclasses pulls in `inspect` and `ast` (about 6 ms), a large
    part of a whole `gt bead create`, and these records sit on every CLI path.
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({inner})"


class Comment(Record):
    __slots__ = ("author", "created_at", "text")

    def __init__(self, author: str, created_at: str, text: str) -> None:
        self.author = author
        self.created_at = created_at
        self.text = text

    def to_dict(self) -> dict[str, Any]:
        return {"author": self.author, "created_at": self.created_at, "text": self.text}


class Dependency(Record):
    """This bead depends on `on` with relation `type` (a `blocks` dep blocks this bead)."""

    __slots__ = ("on", "type")

    def __init__(self, on: str, type: str = "blocks") -> None:
        self.on = on
        self.type = type

    def to_dict(self) -> dict[str, Any]:
        return {"on": self.on, "type": self.type}


class Bead(Record):
    __slots__ = (
        "assignee",
        "close_reason",
        "closed_at",
        "comments",
        "created_at",
        "created_by",
        "deps",
        "description",
        "id",
        "labels",
        "metadata",
        "priority",
        "rig",
        "status",
        "title",
        "type",
        "updated_at",
    )

    def __init__(
        self,
        id: str,
        title: str,
        rig: str,
        description: str = "",
        status: str = "open",
        priority: int = 2,
        type: str = "task",
        labels: list[str] | None = None,
        assignee: str | None = None,
        deps: list[Dependency] | None = None,
        comments: list[Comment] | None = None,
        created_at: str = "",
        updated_at: str = "",
        closed_at: str | None = None,
        close_reason: str = "",
        created_by: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.title = title
        self.rig = rig
        self.description = description
        self.status = status
        self.priority = priority
        self.type = type
        self.labels = labels if labels is not None else []
        self.assignee = assignee
        self.deps = deps if deps is not None else []
        self.comments = comments if comments is not None else []
        self.created_at = created_at
        self.updated_at = updated_at
        self.closed_at = closed_at
        self.close_reason = close_reason
        self.created_by = created_by
        self.metadata = metadata if metadata is not None else {}

    @property
    def is_closed(self) -> bool:
        return self.status == "closed"

    @property
    def blockers(self) -> list[str]:
        return [d.on for d in self.deps if d.type == "blocks"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "rig": self.rig,
            "description": self.description,
            "status": self.status,
            "priority": self.priority,
            "type": self.type,
            "labels": list(self.labels),
            "assignee": self.assignee,
            "deps": [d.to_dict() for d in self.deps],
            "comments": [c.to_dict() for c in self.comments],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
            "created_by": self.created_by,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Bead:
        return cls(
            id=doc["id"],
            title=doc.get("title", ""),
            rig=doc.get("rig", ""),
            description=doc.get("description", ""),
            status=doc.get("status", "open"),
            priority=int(doc.get("priority", 2)),
            type=doc.get("type", "task"),
            labels=list(doc.get("labels") or []),
            assignee=doc.get("assignee"),
            deps=[Dependency(d["on"], d.get("type", "blocks")) for d in doc.get("deps") or []],
            comments=[
                Comment(c.get("author", ""), c.get("created_at", ""), c.get("text", ""))
                for c in doc.get("comments") or []
            ],
            created_at=doc.get("created_at", ""),
            updated_at=doc.get("updated_at", ""),
            closed_at=doc.get("closed_at"),
            close_reason=doc.get("close_reason", ""),
            created_by=doc.get("created_by", ""),
            metadata=dict(doc.get("metadata") or {}),
        )


class Rig(Record):
    __slots__ = ("added_at", "branch", "git", "name", "path", "prefix", "url")

    def __init__(
        self,
        name: str,
        prefix: str,
        path: str,
        git: bool = True,
        url: str = "",
        branch: str = "main",
        added_at: str = "",
    ) -> None:
        self.name = name
        self.prefix = prefix
        self.path = path
        self.git = git
        self.url = url
        self.branch = branch
        self.added_at = added_at

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Rig:
        return cls(
            name=doc["name"],
            prefix=doc["prefix"],
            path=doc["path"],
            git=bool(doc.get("git", True)),
            url=doc.get("url", ""),
            branch=doc.get("branch", "main"),
            added_at=doc.get("added_at", ""),
        )


class Event(Record):
    __slots__ = ("actor", "bead", "extra", "msg", "rig", "ts", "type")

    def __init__(
        self,
        ts: str,
        type: str,
        actor: str = "",
        rig: str | None = None,
        bead: str | None = None,
        msg: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.ts = ts
        self.type = type
        self.actor = actor
        self.rig = rig
        self.bead = bead
        self.msg = msg
        self.extra = extra if extra is not None else {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ts": self.ts,
            "type": self.type,
            "actor": self.actor,
            "rig": self.rig,
            "bead": self.bead,
            "msg": self.msg,
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Event:
        known = {"ts", "type", "actor", "rig", "bead", "msg"}
        return cls(
            ts=str(doc.get("ts", "")),
            type=str(doc.get("type", "")),
            actor=str(doc.get("actor") or ""),
            rig=doc.get("rig"),
            bead=doc.get("bead"),
            msg=str(doc.get("msg") or ""),
            extra={k: v for k, v in doc.items() if k not in known},
        )
