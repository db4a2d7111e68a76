"""What every storage backend must do, in one process: repositories, transactions that commit
whole or not at all, snapshot reads, damage refused loudly, and a change feed that names what
changed. Runs once per backend (conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gastown_tui.town.errors import StoreCorrupt
from gastown_tui.town.models import Bead
from gastown_tui.town.storage import BACKENDS, Changed, base, open_backend
from gastown_tui.town.storage.base import Doc
from gastown_tui.town.town import Town
from tests.conformance.conftest import HARNESSES, FilesHarness

NOW = "2026-12-06T12:00:00.000Z"


def test_every_backend_has_a_harness() -> None:
    assert set(BACKENDS) <= set(HARNESSES), "add a Harness in tests/conformance/conftest.py"


def _bead(bead_id: str, **fields: object) -> Bead:
    return Bead.from_dict(
        {"id": bead_id, "title": bead_id, "rig": "alpha", "created_at": NOW, "updated_at": NOW}
        | fields
    )


def test_the_backend_provides_every_part_of_the_protocol(stown: Town) -> None:
    storage = stown.storage
    assert isinstance(storage, base.Backend)
    for name, protocol in [
        ("rigs", base.RigsRepo), ("convoys", base.ConvoysRepo), ("agents", base.AgentsRepo),
        ("beads", base.BeadsRepo),
        ("polecats", base.PolecatsRepo), ("merge_requests", base.MergeRequestsRepo),
        ("mail", base.MailRepo), ("archive", base.ArchiveRepo), ("ids", base.IdsRepo),
        ("changes", base.ChangeFeed),
    ]:  # fmt: skip
        assert isinstance(getattr(storage, name), protocol), name
    with storage.rig_txn("alpha") as rtx:
        assert isinstance(rtx, base.RigTxn)
    with storage.town_txn() as ttx:
        assert isinstance(ttx, base.TownTxn)
    with storage.mail.txn("mayor") as itx:
        assert isinstance(itx, base.InboxTxn)
    with storage.archive.txn("2026-12") as atx:
        assert isinstance(atx, base.ArchiveTxn)


def test_a_new_store_is_empty(backend_name: str, tmp_path: Path) -> None:
    backend = open_backend(tmp_path / "town", backend_name)
    assert not backend.exists()
    with pytest.raises(StoreCorrupt):
        backend.require()
    backend.create({"version": 1, "created_at": NOW, "name": "t"})
    assert backend.exists()
    backend.require()
    assert backend.rigs.docs() == []
    assert backend.convoys.docs() == []
    assert list(backend.beads.docs("alpha")) == []
    assert not backend.beads.has_rig("alpha")
    assert backend.polecats.docs("alpha") == []
    assert backend.merge_requests.docs("alpha") == []
    assert backend.mail.inboxes() == []
    assert backend.archive.months() == []
    assert list(backend.problems()) == []
    with backend.town_txn() as tx:
        assert tx.meta() == {"version": 1, "created_at": NOW, "name": "t"}


def test_a_rig_transaction_commits_beads_polecats_and_requests_together(stown: Town) -> None:
    storage = stown.storage
    with storage.rig_txn("alpha") as tx:
        tx.add_new_bead(_bead("al-1", status="hooked", assignee="alpha/furiosa"))
        tx.put_polecat({"name": "furiosa", "rig": "alpha", "state": "working"})
        tx.add_merge_request({"id": "mr-1", "bead": "al-1", "status": "pending"})
    assert [d["id"] for d in storage.beads.docs("alpha")] == ["al-1"]
    assert [d["name"] for d in storage.polecats.docs("alpha")] == ["furiosa"]
    assert [d["id"] for d in storage.merge_requests.docs("alpha")] == ["mr-1"]
    polecats, beads = storage.polecats.with_beads("alpha")
    assert [p["name"] for p in polecats] == ["furiosa"] and [b["id"] for b in beads] == ["al-1"]
    assert storage.beads.has_rig("alpha")


def test_a_failed_transaction_changes_nothing(stown: Town) -> None:
    storage = stown.storage
    with storage.rig_txn("alpha") as tx:
        tx.add_new_bead(_bead("al-1"))
    with pytest.raises(RuntimeError), storage.rig_txn("alpha") as tx:
        tx.put_bead(_bead("al-1", title="changed"))
        tx.add_new_bead(_bead("al-2"))
        tx.put_polecat({"name": "furiosa", "rig": "alpha"})
        raise RuntimeError("boom")
    assert [(d["id"], d["title"]) for d in storage.beads.docs("alpha")] == [("al-1", "al-1")]
    assert storage.polecats.docs("alpha") == []
    with pytest.raises(RuntimeError), storage.town_txn() as ttx:
        ttx.put_convoy({"id": "cv-1", "title": "x", "beads": []})
        raise RuntimeError("boom")
    assert storage.convoys.docs() == []


def test_reads_are_snapshots_a_later_write_does_not_change(stown: Town) -> None:
    storage = stown.storage
    with storage.rig_txn("alpha") as tx:
        tx.add_new_bead(_bead("al-1"))
    seen = list(storage.beads.docs("alpha"))
    with storage.rig_txn("alpha") as tx:
        tx.put_bead(_bead("al-1", title="new title"))
        tx.add_new_bead(_bead("al-2"))
    assert [(d["id"], d["title"]) for d in seen] == [("al-1", "al-1")]
    assert sorted(d["title"] for d in storage.beads.docs("alpha")) == ["al-2", "new title"]


def test_another_process_object_sees_committed_writes(stown: Town, backend_name: str) -> None:
    other = open_backend(stown.root, backend_name)  # as another process would open it
    with stown.storage.rig_txn("alpha") as tx:
        tx.add_new_bead(_bead("al-1"))
    assert [d["id"] for d in other.beads.docs("alpha")] == ["al-1"]
    with other.rig_txn("alpha") as tx:
        tx.add_new_bead(_bead("al-2"))
    assert sorted(d["id"] for d in stown.storage.beads.docs("alpha")) == ["al-1", "al-2"]


def test_beads_polecats_and_requests_are_found_updated_and_removed(stown: Town) -> None:
    with stown.storage.rig_txn("alpha") as tx:
        for n in range(1, 6):
            tx.add_new_bead(_bead(f"al-{n}"))
        tx.put_polecat({"name": "furiosa", "rig": "alpha", "state": "idle"})
        tx.put_polecat({"name": "nux", "rig": "alpha", "state": "idle"})
        tx.add_merge_request({"id": "mr-1", "bead": "al-1", "status": "pending"})
        tx.add_merge_request({"id": "mr-2", "bead": "al-2", "status": "pending"})
    with stown.storage.rig_txn("alpha") as tx:
        assert sorted(tx.bead_ids()) == [f"al-{n}" for n in range(1, 6)]
        bead = tx.get_bead("al-3")
        assert bead is not None and bead.title == "al-3"
        assert tx.get_bead("al-99") is None
        tx.put_bead(_bead("al-3", title="three"))
        tx.remove_beads(["al-4", "al-99"])
        assert tx.get_polecat("nux") == {"name": "nux", "rig": "alpha", "state": "idle"}
        tx.put_polecat({"name": "nux", "rig": "alpha", "state": "working"})
        tx.remove_polecat("furiosa")
        assert tx.update_merge_request("mr-2", {"status": "merged", "at": NOW})
        assert not tx.update_merge_request("mr-9", {"status": "merged"})
        assert tx.get_merge_request("mr-2") == {
            "id": "mr-2", "bead": "al-2", "status": "merged", "at": NOW,
        }  # fmt: skip
    docs = {d["id"]: d for d in stown.storage.beads.docs("alpha")}
    assert sorted(docs) == ["al-1", "al-2", "al-3", "al-5"] and docs["al-3"]["title"] == "three"
    assert stown.storage.polecats.docs("alpha") == [
        {"name": "nux", "rig": "alpha", "state": "working"}
    ]
    mrs = {d["id"]: d["status"] for d in stown.storage.merge_requests.docs("alpha")}
    assert mrs == {"mr-1": "pending", "mr-2": "merged"}


def test_the_town_records_rigs_convoys_and_meta(stown: Town) -> None:
    storage = stown.storage
    with storage.town_txn() as tx:
        tx.add_rig({"name": "beta", "prefix": "be", "path": "/x"})
        tx.put_convoy({"id": "cv-1", "title": "one", "beads": ["al-1"]})
        tx.put_convoy({"id": "cv-2", "title": "two", "beads": []})
    with storage.town_txn() as tx:
        assert sorted(d["name"] for d in tx.rigs()) == ["alpha", "beta"]
        convoy = tx.get_convoy("cv-1")
        assert convoy is not None
        tx.put_convoy({**convoy, "title": "first"})
        tx.remove_rig("beta")
        assert tx.get_convoy("cv-9") is None
    assert [d["name"] for d in storage.rigs.docs()] == ["alpha"]
    assert sorted((d["id"], d["title"]) for d in storage.convoys.docs()) == [
        ("cv-1", "first"), ("cv-2", "two"),
    ]  # fmt: skip


def test_the_town_keeps_its_agents_records_by_address(stown: Town) -> None:
    with stown.storage.town_txn() as tx:
        assert tx.get_agent("mayor") is None
        tx.put_agent({"address": "mayor", "runtime": "demo", "enabled": True})
    with stown.storage.town_txn() as tx:
        record = tx.get_agent("mayor")
        assert record == {"address": "mayor", "runtime": "demo", "enabled": True}
        tx.put_agent({**record, "enabled": False})
    assert stown.storage.agents.docs() == [
        {"address": "mayor", "runtime": "demo", "enabled": False}
    ]


def test_an_inbox_appends_in_order_and_never_duplicates_a_retried_id(stown: Town) -> None:
    mail = stown.storage.mail
    assert not mail.exists("mayor")
    seqs = [mail.append("mayor", {"id": f"msg-{n}", "subject": str(n)}) for n in range(3)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert mail.append("mayor", {"id": "msg-1", "subject": "again"}, idempotent=True) is None
    assert mail.exists("mayor") and mail.inboxes() == ["mayor"]
    assert [d["id"] for d in mail.docs("mayor").values()] == ["msg-0", "msg-1", "msg-2"]
    with mail.txn("mayor") as tx:
        first = min(tx.messages())
        tx.put(first, {**tx.messages()[first], "read": True})
        tx.delete([max(tx.messages())])
        later = tx.append({"id": "msg-3", "subject": "3"})
    assert later > max(seqs[:2])
    docs = mail.docs("mayor")
    assert [d["id"] for d in docs.values()] == ["msg-0", "msg-1", "msg-3"]
    assert docs[first]["read"] is True
    mail.append("alpha/furiosa", {"id": "msg-9", "subject": "9"})
    assert mail.inboxes() == ["alpha/furiosa", "mayor"]


def test_the_archive_upserts_beads_and_mail_copies(stown: Town) -> None:
    archive = stown.storage.archive
    with archive.txn("2026-11") as tx:
        tx.put_beads([{"id": "al-1", "status": "closed", "title": "a"}, {"id": "al-2"}])
        tx.put_messages([{"id": "msg-1", "inbox": "mayor"}, {"id": "msg-1", "inbox": "nux"}])
    with archive.txn("2026-12") as tx:
        tx.put_beads([{"id": "al-3"}])
    with archive.txn("2026-11") as tx:
        # A retried move is an update; new ones follow the ones kept, each once.
        tx.put_beads([{"id": "al-1", "title": "again"}, {"id": "al-4"}, {"id": "al-5"}])
        tx.put_messages([{"id": "msg-1", "inbox": "mayor", "read": True}])
        tx.remove_beads(["al-2"])
    assert archive.months() == ["2026-12", "2026-11"]
    assert archive.bead_docs("2026-11") == [
        {"id": "al-1", "status": "closed", "title": "again"},
        {"id": "al-4"},
        {"id": "al-5"},
    ]
    copies = sorted(archive.message_docs("2026-11").values(), key=lambda d: d["inbox"])
    assert copies == [
        {"id": "msg-1", "inbox": "mayor", "read": True},
        {"id": "msg-1", "inbox": "nux"},
    ]


def test_a_retired_rig_is_kept_aside_not_deleted(stown: Town) -> None:
    with stown.storage.rig_txn("alpha") as tx:
        tx.add_new_bead(_bead("al-1"))
    kept = stown.storage.retire_rig("alpha", "20261206T120000000Z")
    assert kept is not None
    assert list(stown.storage.beads.docs("alpha")) == []
    assert stown.storage.retire_rig("alpha", "20261206T120001000Z") is None


@pytest.mark.parametrize(
    ("content", "detail"),
    [(b"", "empty"), (b'{"beads": {"1": {"id"', "invalid JSON"), (b"[1, 2]", "object of tables")],
)
def test_damaged_records_are_refused_loudly_never_reset(
    stown: Town, harness: FilesHarness, content: bytes, detail: str
) -> None:
    stown.beads.create("one", rig="alpha")
    name = harness.corrupt_rig(stown, "alpha", content)
    with pytest.raises(StoreCorrupt) as info:
        list(stown.storage.beads.docs("alpha"))
    assert name in str(info.value) and detail in str(info.value)
    assert "gt doctor" in str(info.value)
    with pytest.raises(StoreCorrupt), stown.storage.rig_txn("alpha") as tx:
        tx.add_new_bead(_bead("al-zz"))
    assert harness.rig_state(stown, "alpha") == content, "damage is never overwritten"
    assert [name in p for p in stown.storage.problems()] == [True]


def test_lost_records_are_an_error_not_an_empty_rig(stown: Town, harness: FilesHarness) -> None:
    stown.beads.create("one", rig="alpha")
    name = harness.lose_rig(stown, "alpha")
    with pytest.raises(StoreCorrupt) as info:
        list(stown.storage.beads.docs("alpha"))
    assert name in str(info.value)


def _changed_after(town: Town, write) -> set[Changed]:  # type: ignore[no-untyped-def]
    """What the change feed makes of everything under its root that `write` changed."""
    feed = town.storage.changes
    root = Path(feed.watch_root).resolve()

    def snapshot() -> dict[str, tuple[int, int, int]]:
        out = {}
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                with_stat = os.stat(path)
                out[path] = (with_stat.st_ino, with_stat.st_size, with_stat.st_mtime_ns)
        return out

    before = snapshot()
    write()
    after = snapshot()
    changed = {p for p in after if before.get(p) != after[p]} | (before.keys() - after.keys())
    return {c for p in changed if (c := feed.classify(p)) is not None}


def _put_convoy(town: Town) -> None:
    with town.storage.town_txn() as tx:
        tx.put_convoy({"id": "cv-1", "title": "one", "beads": []})


def _archive_bead(town: Town) -> None:
    with town.storage.archive.txn("2026-12") as tx:
        tx.put_beads([{"id": "al-x"}])


def test_the_change_feed_names_what_changed(stown: Town) -> None:
    rig = _changed_after(stown, lambda: stown.beads.create("x", rig="alpha"))
    assert Changed("rig", rig="alpha") in rig
    mail = _changed_after(stown, lambda: stown.mail.send(["alpha/witness"], "s", "b"))
    assert Changed("mail", address="alpha/witness") in mail
    assert Changed("town") in _changed_after(stown, lambda: _put_convoy(stown))
    assert Changed("archive") in _changed_after(stown, lambda: _archive_bead(stown))
    # The app's scope strings (gastown_tui/tui/app.py's on_store_changed reads them).
    assert Changed("rig", rig="alpha").scope == "rig:alpha"
    assert Changed("mail", address="mayor").scope == "mail:mayor"
    assert Changed("town").scope == "town"


def test_the_change_feed_ignores_what_no_one_shows(stown: Town) -> None:
    feed = stown.storage.changes
    root = str(Path(feed.watch_root).resolve())
    for rel in (".runtime/locks/x.lock", "store/rigs/.alpha.json.abc.tmp", "rigs/alpha/repo/x"):
        assert feed.classify(f"{root}/{rel}") is None
    assert feed.classify("/elsewhere/store/town.json") is None
    assert feed.classify(f"{root}/events.jsonl") == Changed("events")
    assert feed.classify(f"{root}/town.toml") == Changed("config")


def test_the_id_index_issues_unique_ids_and_knows_their_rigs(stown: Town) -> None:
    ids = stown.storage.ids
    issued = {ids.reserve("al", "alpha") for _ in range(200)}
    assert len(issued) == 200 and all(i.startswith("al-") for i in issued)
    ids.record([("ext-1", "alpha"), ("ext-2", "beta")])
    ids.record([("ext-1", "alpha")])  # a retried import records nothing twice
    assert ids.rig_of("ext-2") == "beta" and "ext-1" in ids and "ext-9" not in ids
    assert ids.rig_of("ext-9") is None
    assert open_backend(stown.root, stown.storage.name).ids.all() == ids.all()
    assert set(ids.all()) == issued | {"ext-1", "ext-2"}


def _rig_state(town: Town, rig: str) -> tuple[list[Doc], list[Doc], list[Doc]]:
    storage = town.storage
    return (
        list(storage.beads.docs(rig)),
        storage.polecats.docs(rig),
        storage.merge_requests.docs(rig),
    )


def test_a_long_lived_reader_sees_every_write_as_a_fresh_reader_does(stown: Town) -> None:
    """The app reads a rig again after each write (views/ledger.py). Whatever a backend does
    to make that cheap (the files backend's journal: town/storage/journal.py), what it reads
    is what a reader opened afresh reads, in the same order, after every kind of write."""
    watcher = Town.open(stown.root)
    assert _rig_state(watcher, "alpha") == ([], [], [])
    storage = stown.storage
    ids = [stown.beads.create(f"b{n}", rig="alpha", priority=n % 3).id for n in range(6)]

    def in_txn(change: Callable[[base.RigTxn], object]) -> Callable[[], None]:
        def write() -> None:
            with storage.rig_txn("alpha") as tx:
                change(tx)

        return write

    def removed_then_put_again(tx: base.RigTxn) -> None:
        bead = tx.get_bead(ids[1])
        assert bead is not None
        tx.remove_beads([ids[1]])
        tx.add_new_bead(_bead("al-new"))
        tx.put_bead(bead)  # back, after the new one

    writes: list[Callable[[], object]] = [
        lambda: stown.beads.update(ids[0], title="renamed"),
        lambda: stown.beads.update(ids[2], priority=4, add_labels=["x"]),
        lambda: stown.beads.close(ids[3], "done"),
        in_txn(removed_then_put_again),
        in_txn(lambda tx: tx.put_polecat({"name": "nux", "rig": "alpha", "state": "idle"})),
        in_txn(lambda tx: tx.add_merge_request({"id": "mr-1", "bead": ids[0], "state": "q"})),
        in_txn(lambda tx: tx.update_merge_request("mr-1", {"state": "merged"})),
        in_txn(lambda tx: tx.remove_beads([ids[4]])),
        in_txn(lambda tx: tx.touch()),
        in_txn(lambda tx: tx.remove_polecat("nux")),
    ]
    for write in writes:
        write()
        assert _rig_state(watcher, "alpha") == _rig_state(Town.open(stown.root), "alpha")
    beads = [d["id"] for d in watcher.storage.beads.docs("alpha")]
    assert beads[-2:] == ["al-new", ids[1]], "a bead removed and put again comes last"
