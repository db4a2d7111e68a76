"""Records of the town. Stored as plain dicts; these dataclasses give them names and types.

The `to_dict` shapes are the documented `--json` output and are kept stable across releases:
new keys may be added, existing keys are never renamed or removed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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


@dataclass
class Comment:
    author: str
    created_at: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Dependency:
    """This bead depends on `on` with relation `type` (a `blocks` dep blocks this bead)."""

    on: str
    type: str = "blocks"

    def to_dict(self) -> dict[str, Any]:
        return {"on": self.on, "type": self.type}


@dataclass
class Bead:
    id: str
    title: str
    rig: str
    description: str = ""
    status: str = "open"
    priority: int = 2
    type: str = "task"
    labels: list[str] = field(default_factory=list)
    assignee: str | None = None
    deps: list[Dependency] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    closed_at: str | None = None
    close_reason: str = ""
    created_by: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

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


@dataclass
class Rig:
    name: str
    prefix: str
    path: str
    git: bool = True
    url: str = ""
    branch: str = "main"
    added_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

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


@dataclass
class Event:
    ts: str
    type: str
    actor: str = ""
    rig: str | None = None
    bead: str | None = None
    msg: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

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
