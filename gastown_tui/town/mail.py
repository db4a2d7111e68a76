"""Mail between agents and the overseer.

One inbox per address: `store/mail/<address with / as ~>.json`, table `messages`. A message
sent to several addresses (or a group) is stored once per recipient: each copy has the same
`id`, its own `inbox` and its own read state. That keeps every user-level operation on one
small file (read, archive) and a send on exactly the recipients' files.

A send validates everything first (every address and group, subject, type, priority), so a bad
address stores nothing. Each inbox write is a store transaction (flock, temp file, fsync,
rename), so the message is durable when `send` returns and only then does the CLI say `sent`.

A caller-given `message_id` makes a send idempotent: a copy whose id is already in that inbox is
not stored again. The convoy "landed" notification uses it so that two processes racing, or a
retry after a crash, never deliver it twice.

Read messages can be moved to the monthly archive (`store/archive/<YYYY-MM>.json`, table `mail`,
month of the message's creation); the archive copy is written before the inbox copy is removed,
so a killed mover leaves a message in both places (the inbox wins), never in none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping

from gastown_tui.town.addresses import OVERSEER, AddressBook, normalize, rig_of
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.ids import random_suffix
from gastown_tui.town.models import Record
from gastown_tui.town.validate import one_line, one_of, text_block

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

    from gastown_tui.town.town import Town

MESSAGE_TYPES = ("task", "escalation", "notification", "reply")
PRIORITIES = ("urgent", "high", "normal", "low")
MAX_SUBJECT = 300
MAX_BODY = 1_000_000  # one inbox file holds thousands of messages: keep each sane
ID_PREFIX = "msg-"
# 10 base36 characters (~52 bits): a random collision among a million messages has odds of
# about 1 in 7,000, and ids only need to be unique among the copies a lookup could find.
ID_LENGTH = 10
MAX_ID = 120


def new_message_id() -> str:
    return ID_PREFIX + random_suffix(ID_LENGTH)


def check_subject(subject: str | None) -> str:
    return one_line(
        subject, what="subject", owner="a message", limit=MAX_SUBJECT, flag="-s SUBJECT"
    )


def check_body(body: str | None) -> str:
    return text_block(body, what="body", limit=MAX_BODY)


def check_type(value: str) -> str:
    return one_of(value, MESSAGE_TYPES, what="message type")


def check_priority(value: str) -> str:
    return one_of(value, PRIORITIES, what="priority")


def check_message_id(value: str) -> str:
    text = (value or "").strip()
    if not text or len(text) > MAX_ID or any(c.isspace() or ord(c) < 32 for c in text):
        raise GtError(f"invalid message id {value!r}")
    return text


def check_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """Extra fields of a message (bead, severity, convoy): flat scalars only, which keeps
    inbox files simple enough for the fast append (see splice_insert)."""
    out: dict[str, Any] = {}
    for key, value in (meta or {}).items():
        if not isinstance(key, str) or not (
            value is None or isinstance(value, str | int | float | bool)
        ):
            raise GtError(f"message meta {key!r} must map a name to a plain value")
        out[key] = value
    return out


class Message(Record):
    """One stored copy of a message: `inbox` says whose copy it is (read state is per copy).
    A Record, not a dataclass: `gt mail send` and `gt prime` load it (town/models.py)."""

    __slots__ = (
        "archived",
        "body",
        "cc",
        "created",
        "id",
        "inbox",
        "meta",
        "priority",
        "read",
        "read_at",
        "reply_to",
        "sender",
        "seq",
        "subject",
        "thread",
        "to",
        "type",
    )

    def __init__(
        self,
        id: str,
        sender: str,
        to: list[str],
        subject: str,
        body: str = "",
        cc: list[str] | None = None,
        type: str = "notification",
        priority: str = "normal",
        thread: str = "",
        reply_to: str | None = None,
        created: str = "",
        read: bool = False,
        read_at: str | None = None,
        inbox: str = "",
        meta: dict[str, Any] | None = None,
        archived: bool = False,
        seq: int = 0,  # position in its file: orders messages created in the same millisecond
    ) -> None:
        self.id = id
        self.sender = sender
        self.to = to
        self.subject = subject
        self.body = body
        self.cc: list[str] = [] if cc is None else cc
        self.type = type
        self.priority = priority
        self.thread = thread
        self.reply_to = reply_to
        self.created = created
        self.read = read
        self.read_at = read_at
        self.inbox = inbox
        self.meta: dict[str, Any] = {} if meta is None else meta
        self.archived = archived
        self.seq = seq

    def copy_with(self, **changes: Any) -> Message:
        """A copy with some fields changed (what dataclasses.replace did)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Message(**fields)

    def to_dict(self) -> dict[str, Any]:
        """Documented keys: id, from, to, cc, subject, body, type, priority, thread, reply_to,
        created, read, read_at, inbox (whose copy), meta (e.g. bead, severity, convoy),
        archived."""
        return {
            "id": self.id,
            "from": self.sender,
            "to": list(self.to),
            "cc": list(self.cc),
            "subject": self.subject,
            "body": self.body,
            "type": self.type,
            "priority": self.priority,
            "thread": self.thread,
            "reply_to": self.reply_to,
            "created": self.created,
            "read": self.read,
            "read_at": self.read_at,
            "inbox": self.inbox,
            "meta": dict(self.meta),
            "archived": self.archived,
        }

    def to_doc(self) -> dict[str, Any]:
        doc = self.to_dict()
        del doc["archived"]  # where a copy lives says whether it is archived
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any], *, seq: int = 0, archived: bool = False) -> Message:
        return cls(
            id=doc["id"],
            sender=doc.get("from", ""),
            to=list(doc.get("to") or []),
            subject=doc.get("subject", ""),
            body=doc.get("body", ""),
            cc=list(doc.get("cc") or []),
            type=doc.get("type", "notification"),
            priority=doc.get("priority", "normal"),
            thread=doc.get("thread") or doc["id"],
            reply_to=doc.get("reply_to"),
            created=doc.get("created", ""),
            read=bool(doc.get("read", False)),
            read_at=doc.get("read_at"),
            inbox=doc.get("inbox", ""),
            meta=dict(doc.get("meta") or {}),
            archived=archived,
            seq=seq,
        )

    @property
    def is_protocol(self) -> bool:
        """A machine-readable subject such as POLECAT_DONE or MERGE_READY."""
        head = self.subject.split(" ", 1)[0].rstrip(":")
        return head.isupper() and len(head) > 2


def _newest_first(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.created, not m.archived, m.seq), reverse=True)


class MailStore:
    def __init__(self, town: Town) -> None:
        self.town = town
        # Called with the copies a send just stored (dispatch hooks "nudge if idle, else queue"
        # here). A failing callback never un-sends mail: its error is kept in `hook_errors`
        # and logged as a `mail.hook_failed` event.
        self.on_delivered: list[Callable[[list[Message]], None]] = []
        self.hook_errors: list[str] = []

    # storage (town/storage/: the mail repository) -----------------------------------------
    def _docs(self, address: str) -> Mapping[int, dict[str, Any]]:
        return self.town.storage.mail.docs(normalize(address))

    def has_inbox(self, address: str) -> bool:
        return self.town.storage.mail.exists(normalize(address))

    def inboxes(self) -> list[str]:
        """Addresses that have an inbox (sorted)."""
        return self.town.storage.mail.inboxes()

    def _active(self, address: str) -> Iterator[Message]:
        for seq, doc in self._docs(address).items():
            yield Message.from_doc(doc, seq=seq)

    def _archived(self, address: str | None = None) -> Iterator[Message]:
        archive = self.town.storage.archive
        for month in archive.months():
            for seq, doc in archive.message_docs(month).items():
                if address is None or doc.get("inbox") == address:
                    yield Message.from_doc(doc, seq=seq, archived=True)

    # sending -----------------------------------------------------------------------------
    def send(
        self,
        to: list[str],
        subject: str,
        body: str,
        *,
        sender: str | None = None,
        cc: Iterable[str] = (),
        type: str = "notification",
        priority: str = "normal",
        reply_to: str | None = None,
        thread: str | None = None,
        message_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> list[Message]:
        """Store one copy per recipient; return the copies this call stored.

        With a caller-given `message_id`, inboxes that already hold that id are skipped, so
        a repeated send returns only what was missing (often nothing).
        """
        to_list = [normalize(a) for a in ([to] if isinstance(to, str) else to)]
        cc_list = [normalize(a) for a in ([cc] if isinstance(cc, str) else cc)]
        if not to_list:
            raise GtError("a message needs at least one recipient")
        subject = check_subject(subject)
        body = check_body(body)
        check_type(type)
        check_priority(priority)
        given_id = check_message_id(message_id) if message_id is not None else None
        sender = normalize(sender or self.town.actor)
        if not sender or sender.startswith("@"):
            raise GtError(f"invalid sender {sender!r}", hint="GT_AGENT must be one address")
        recipients = AddressBook(self.town).resolve_all([*to_list, *cc_list])

        msg_id = given_id or new_message_id()
        created = iso(self.town.clock.now())
        template = Message(
            id=msg_id,
            sender=sender,
            to=to_list,
            cc=cc_list,
            subject=subject,
            body=body,
            type=type,
            priority=priority,
            thread=thread or msg_id,
            reply_to=reply_to,
            created=created,
            meta=check_meta(meta),
        )
        stored: list[Message] = []
        failed: tuple[str, BaseException] | None = None
        for address in recipients:
            try:
                copy = self._store_copy(address, template, idempotent=given_id is not None)
            except (OSError, GtFailure) as exc:
                if not stored:
                    raise  # nothing stored: a plain failure, a retry sends it once
                failed = (address, exc)  # some copies are stored: say exactly which
                break
            if copy is None and given_id is None:
                # A generated id already in this inbox (odds ~1e-15, but be exact): pick
                # another while nothing is written; after that, refuse rather than mix.
                if stored:
                    raise GtFailure(f"message id {msg_id} collided in {address}'s inbox")
                msg_id = new_message_id()
                template.id = msg_id
                template.thread = thread or msg_id
                copy = self._store_copy(address, template, idempotent=False)
                if copy is None:
                    raise GtFailure(f"message id {msg_id} collided in {address}'s inbox")
            if copy is not None:  # None: this inbox already had the caller's message_id
                stored.append(copy)
        if stored:
            self.town.events.append(
                "mail.sent",
                actor=sender,
                rig=rig_of(sender),
                msg=subject,
                id=msg_id,
                to=[m.inbox for m in stored],
                mail_type=type,
                priority=priority,
                message=template.to_doc(),  # for `gt doctor` to rebuild a lost inbox
            )
            self._deliver(stored)
        if failed is not None:
            address, exc = failed
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            done = ", ".join(m.inbox for m in stored)
            rest = [a for a in recipients if a not in {m.inbox for m in stored}]
            raise GtFailure(
                f"message {template.id} was stored for {done} but not for {', '.join(rest)}"
                f" ({address}: {reason})",
                hint="send it again to those only; the others have it",
            )
        return stored

    def _store_copy(
        self, address: str, template: Message, idempotent: bool = True
    ) -> Message | None:
        """Append `address`'s copy to its inbox, durably. None if that id is already there.

        Without `idempotent` (a freshly generated id) the fast path skips scanning the inbox
        for the id: 52 random bits do not collide in practice, and the scan is a pass over
        the whole file on every send.
        """
        copy = template.copy_with(inbox=address, meta=dict(template.meta))
        seq = self.town.storage.mail.append(
            normalize(address), copy.to_doc(), idempotent=idempotent
        )
        if seq is None:
            return None
        copy.seq = seq
        return copy

    def _deliver(self, stored: list[Message]) -> None:
        for callback in list(self.on_delivered):
            try:
                callback(stored)
            except Exception as exc:  # a hook must never un-send mail
                text = f"{getattr(callback, '__name__', callback)!s}: {type(exc).__name__}: {exc}"
                self.hook_errors.append(text)
                with contextlib.suppress(Exception):
                    self.town.events.append(
                        "mail.hook_failed", actor=stored[0].sender, msg=text, id=stored[0].id
                    )

    def reply(
        self,
        message_id: str,
        body: str,
        *,
        sender: str | None = None,
        subject: str | None = None,
        priority: str = "normal",
    ) -> list[Message]:
        """Reply to the sender of a message, in its thread. The original must exist."""
        sender = normalize(sender or self.town.actor)
        original = self._find(message_id, prefer=sender)
        if original is None:
            raise GtError(f"no message {message_id!r} to reply to", hint="see `gt mail inbox`")
        if subject is None:
            subject = original.subject
            if not subject.lower().startswith("re:"):
                subject = f"Re: {subject}"
        sent = self.send(
            [original.sender],
            subject[:MAX_SUBJECT],
            body,
            sender=sender,
            type="reply",
            priority=priority,
            reply_to=original.id,
            thread=original.thread or original.id,
        )
        # Answering a message means it was read.
        if original.inbox == sender and not original.read and not original.archived:
            with contextlib.suppress(GtError):
                self.mark_read(original.id, sender)
        if original.type == "escalation":
            # A reply answers the escalated step: it is unblocked (town/roles.py).
            from gastown_tui.town.roles import answer_from_reply

            answer_from_reply(self.town, original, body, sender)
        return sent

    # reading -----------------------------------------------------------------------------
    def inbox(
        self, address: str, *, unread_only: bool = False, include_archived: bool = False
    ) -> list[Message]:
        """The messages of one inbox, newest first."""
        address = normalize(address)
        docs = self._docs(address)
        # Filter the raw docs first: `gt prime` asks for the few unread among thousands.
        messages = [
            Message.from_doc(doc, seq=seq)
            for seq, doc in docs.items()
            if not (unread_only and doc.get("read"))
        ]
        if include_archived:
            active_ids = {doc.get("id") for doc in docs.values()}
            messages.extend(
                m
                for m in self._archived(address)
                if m.id not in active_ids and not (unread_only and m.read)
            )
        return _newest_first(messages)

    def unread_count(self, address: str) -> int:
        docs = self._docs(address).values()
        return sum(1 for d in docs if not d.get("read"))

    def _find(self, message_id: str, *, address: str | None = None, prefer: str | None = None):
        """A copy of a message: in `address` only (active, then archive), or anywhere,
        trying `prefer`'s inbox first. Accepts a unique prefix of an id, as people type them."""
        message_id = (message_id or "").strip()
        if not message_id:
            return None
        if address is not None:
            order = [normalize(address)]
        else:
            first = [normalize(prefer)] if prefer else []
            order = first + [a for a in self.inboxes() if a not in first]
        partial: dict[str, Message] = {}
        for inbox in order:
            for message in self._active(inbox):
                if message.id == message_id:
                    return message
                if message.id.startswith(message_id) and message.id not in partial:
                    partial[message.id] = message
        for message in self._archived(normalize(address) if address is not None else None):
            if message.id == message_id:
                return message
            if message.id.startswith(message_id) and message.id not in partial:
                partial[message.id] = message
        if len(partial) == 1:
            return next(iter(partial.values()))
        if len(partial) > 1:
            raise GtError(
                f"message id {message_id!r} is ambiguous",
                hint="matches " + ", ".join(sorted(partial)[:5]),
            )
        return None

    def get(self, message_id: str, address: str | None = None) -> Message:
        """A message by id (or a unique prefix). Without `address`, the caller's own copy is
        preferred, then any inbox, then the archive."""
        message = self._find(message_id, address=address, prefer=self.town.actor)
        if message is None:
            where = f" in {normalize(address)}'s inbox" if address else ""
            raise GtError(f"no message {message_id!r}{where}", hint="see `gt mail inbox`")
        return message

    def thread(self, message_id: str) -> list[Message]:
        """Every message of the thread `message_id` belongs to, oldest first, one per id."""
        start = self.get(message_id)
        thread_id = start.thread or start.id
        found: dict[str, Message] = {}
        prefer = normalize(self.town.actor)

        def consider(message: Message) -> None:
            if message.thread != thread_id and message.id != thread_id:
                return
            # Keep one copy per id; the caller's own copy, if any, shows their read state.
            if message.id not in found or message.inbox == prefer:
                found[message.id] = message

        for inbox in self.inboxes():
            for message in self._active(inbox):
                consider(message)
        for message in self._archived():
            if message.id not in found:
                consider(message)
        return sorted(found.values(), key=lambda m: (m.created, m.seq))

    def status_summary(self) -> dict[str, Any]:
        """For `gt status` and the app: the overseer's unread mail."""
        unread = self.inbox(OVERSEER, unread_only=True)
        return {
            "overseer_unread": len(unread),
            "overseer_unread_subjects": [m.subject for m in unread[:5]],
            "overseer_unread_messages": [
                {
                    "id": m.id,
                    "from": m.sender,
                    "subject": m.subject,
                    "priority": m.priority,
                    "type": m.type,
                    "created": m.created,
                }
                for m in unread[:5]
            ],
            "overseer_urgent": sum(1 for m in unread if m.priority == "urgent"),
        }

    # changing ----------------------------------------------------------------------------
    def mark_read(self, message_id: str, address: str, read: bool = True) -> Message:
        """Set the read state of `address`'s copy. Raises GtError if it has no such message."""
        address = normalize(address)
        with self.town.storage.mail.txn(address) as tx:
            for seq, doc in tx.messages().items():
                if doc.get("id") == message_id:
                    if bool(doc.get("read")) != read:
                        read_at = iso(self.town.clock.now()) if read else None
                        doc = {**doc, "read": read, "read_at": read_at}
                        tx.put(seq, doc)
                    return Message.from_doc(doc, seq=seq)
        raise GtError(f"no message {message_id!r} in {address}'s inbox", hint="see `gt mail inbox`")

    def archive(self, ids: Iterable[str], address: str) -> list[Message]:
        """Move messages out of `address`'s inbox into the monthly archive.

        Every id must be in the inbox, or nothing moves. The archive is written first.
        """
        address = normalize(address)
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self.town.storage.mail.txn(address) as tx:
            docs = tx.messages()
            keys = {doc.get("id"): seq for seq, doc in docs.items()}
            missing = [i for i in wanted if i not in keys]
            if missing:
                raise GtError(
                    f"not in {address}'s inbox: " + ", ".join(missing),
                    hint="see `gt mail inbox`",
                )
            moving = [docs[keys[i]] for i in wanted]
            self._write_archive(moving)
            tx.delete(keys[i] for i in wanted)
        return [Message.from_doc(d, archived=True) for d in moving]

    def archive_read(self, address: str, keep: int = 200) -> int:
        """Archive read messages of an inbox beyond the newest `keep` read ones; a dog calls
        this so inbox files stay small. Unread mail is never moved. Returns how many moved."""
        address = normalize(address)
        docs = self._docs(address)
        read_keys = sorted((k for k, d in docs.items() if d.get("read")), reverse=True)
        old = read_keys[keep:]
        if not old:
            return 0
        ids = [docs[k]["id"] for k in old]
        with contextlib.suppress(GtError):  # a concurrent archive took some: retry next time
            return len(self.archive(ids, address))
        return 0

    def _write_archive(self, docs: list[dict[str, Any]]) -> None:
        by_month: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            month = (doc.get("created") or "0000-00")[:7]
            by_month.setdefault(month, []).append(doc)
        for month, month_docs in by_month.items():
            with self.town.storage.archive.txn(month) as tx:
                tx.put_messages(month_docs)
