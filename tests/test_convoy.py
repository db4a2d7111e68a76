"""Convoys: tracking beads across rigs, landing exactly once, whichever process closes last.

Not covered here: the same landing triggered by `gt done` from a polecat in a real tmux window
(demo runtime) — that needs the polecat machinery; the landing path it takes (a bead close in
the agent's process calling Town.beads_closed) is the one these tests drive.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time

import pytest

from gastown_tui.town.convoys import landing_message_id
from gastown_tui.town.errors import GtError
from gastown_tui.town.storage.file_backend import CONVOYS
from gastown_tui.town.town import Town
from tests import mail_fixtures
from tests.mail_fixtures import (
    ROOT,
    GtCall,
    as_json,
    bad,
    events_of,
    inbox_docs,
    ok,
    store_snapshot,
)

mail_town = mail_fixtures.mail_town
gtm = mail_fixtures.gtm


def landed_mail(town: Town, address: str, convoy_id: str | None = None) -> list[dict]:
    docs = [d for d in inbox_docs(town, address) if d.get("meta", {}).get("convoy")]
    return [d for d in docs if convoy_id is None or d["meta"]["convoy"] == convoy_id]


def make_beads(town: Town, count: int = 2) -> list[str]:
    """`count` beads in alpha and `count` in beta."""
    ids = []
    for rig in ("alpha", "beta"):
        for n in range(count):
            ids.append(town.beads.create(f"{rig} task {n}", rig=rig).id)
    return ids


# create / status / list ----------------------------------------------------------------------
def test_create_over_two_rigs_and_follow_its_status(gtm: GtCall, mail_town: Town) -> None:
    a1, a2, b1, b2 = make_beads(mail_town)
    mail_town.beads.add_dep(b2, b1)  # b1 blocks b2
    proc = ok(gtm("convoy", "create", "Release 1.2", a1, a2, b1, b2, "--notify", "mayor"))
    convoy_id = proc.stdout.strip()
    assert re.fullmatch(r"cv-[0-9a-z]{5}", convoy_id)

    mail_town.beads.update(a1, assignee="alpha/furiosa", status="in_progress")
    mail_town.beads.update(a2, status="blocked")
    mail_town.beads.close(b1, reason="shipped")
    status = as_json(gtm("convoy", "status", convoy_id, "--json"))
    assert status["id"] == convoy_id and status["title"] == "Release 1.2"
    assert (status["done"], status["total"], status["blocked"]) == (1, 4, 1)
    assert status["owner"] == "overseer" and status["notify"] == ["mayor"]
    assert status["state"] == "open" and status["landed_at"] is None
    rows = {r["id"]: r for r in status["beads"]}
    assert [r["id"] for r in status["beads"]] == [a1, a2, b1, b2]
    assert rows[a1]["assignee"] == "alpha/furiosa" and rows[a1]["status"] == "in_progress"
    assert rows[a1]["rig"] == "alpha" and rows[b1]["rig"] == "beta"
    assert rows[a2]["blocked"] is True  # status blocked
    assert rows[b2]["blocked"] is False and rows[b2]["blocked_by"] == []  # b1 closed: free
    assert rows[b1]["status"] == "closed" and rows[b1]["blocked"] is False

    mail_town.beads.reopen(b1)
    rows = {r["id"]: r for r in as_json(gtm("convoy", "status", convoy_id, "--json"))["beads"]}
    assert rows[b2]["blocked"] is True and rows[b2]["blocked_by"] == [b1]

    text = ok(gtm("convoy", "status", convoy_id)).stdout
    assert "0/4 done" in text and "2 blocked" in text and "alpha/furiosa" in text
    assert f"(by {b1})" in text

    listing = as_json(gtm("convoy", "list", "--json"))
    assert [(c["id"], c["done"], c["total"]) for c in listing] == [(convoy_id, 0, 4)]
    assert convoy_id in ok(gtm("convoy", "list")).stdout
    assert [c.id for c in mail_town.convoys.convoys_of(b2)] == [convoy_id]
    summary = mail_town.convoys.status_summary()
    assert summary["in_flight"] == [
        {"id": convoy_id, "title": "Release 1.2", "done": 0, "total": 4, "auto": False}
    ]
    # The stored convoy holds no progress: it is derived from the beads on every read.
    (stored,) = mail_town.storage.convoys.docs()
    assert "done" not in stored and stored["beads"] == [a1, a2, b1, b2]
    assert events_of(mail_town, "convoy.created")[0]["convoy"] == convoy_id


def test_bad_convoy_input_stores_nothing(gtm: GtCall, mail_town: Town) -> None:
    (a1, _b1) = make_beads(mail_town, 1)
    convoy = mail_town.convoys.create("existing", [a1])
    before = store_snapshot(mail_town)
    bad(gtm("convoy", "create", "x", a1, "al-zzzzz"), "unknown bead 'al-zzzzz'")
    bad(gtm("convoy", "create", "x", a1, "--notify", "alpha/ghost"), "alpha/ghost")
    bad(gtm("convoy", "create", "x", a1, "--owner", "@town"), "is a group")
    bad(gtm("convoy", "create", "  ", a1), "non-empty title")
    bad(gtm("convoy", "status", "cv-zzzzz"), "unknown convoy 'cv-zzzzz'")
    bad(gtm("convoy", "add", "cv-zzzzz", a1), "unknown convoy")
    bad(gtm("convoy", "add", convoy.id, "be-zzzzz"), "unknown bead 'be-zzzzz'")
    bad(gtm("convoy", "close", "cv-zzzzz"), "unknown convoy")
    assert store_snapshot(mail_town) == before


# landing -------------------------------------------------------------------------------------
def test_lands_exactly_once_when_the_last_bead_closes(gtm: GtCall, mail_town: Town) -> None:
    a1, b1 = make_beads(mail_town, 1)
    convoy_id = ok(
        gtm("convoy", "create", "Fix login", a1, b1, "--notify", "mayor", "@polecats/beta")
    ).stdout.strip()
    ok(gtm("bead", "close", a1, agent="alpha/furiosa"))
    assert as_json(gtm("convoy", "status", convoy_id, "--json"))["state"] == "open"
    assert landed_mail(mail_town, "overseer") == []

    ok(gtm("bead", "close", b1, agent="beta/slit"))  # the last one: this process lands it
    status = as_json(gtm("convoy", "status", convoy_id, "--json"))
    assert status["state"] == "landed" and status["landed_at"] and status["landings"] == 1
    assert (status["done"], status["total"]) == (2, 2)
    for address in ("overseer", "mayor", "beta/slit"):
        (mail,) = landed_mail(mail_town, address, convoy_id)
        assert mail["id"] == landing_message_id(convoy_id, 1) == f"{convoy_id}-landed-1"
        assert mail["from"] == "deacon" and mail["type"] == "notification"
        assert "Fix login" in mail["subject"] and a1 in mail["body"] and b1 in mail["body"]
    assert landed_mail(mail_town, "alpha/furiosa") == []

    # Checking again, from any process, sends nothing more.
    assert mail_town.convoys.check_landings() == []
    assert mail_town.convoys.check_landings([a1, b1]) == []
    assert "no convoy landed" in ok(gtm("convoy", "check")).stderr
    assert len(landed_mail(mail_town, "overseer")) == 1
    assert len(events_of(mail_town, "convoy.landed")) == 1
    assert as_json(gtm("convoy", "list", "--json")) == []
    assert [c["state"] for c in as_json(gtm("convoy", "list", "--all", "--json"))] == ["landed"]
    recent = mail_town.convoys.status_summary()["recently_landed"]
    assert [c["id"] for c in recent] == [convoy_id]


CLOSER = textwrap.dedent(
    """
    import sys, time
    from gastown_tui.town.town import Town
    town = Town.open(sys.argv[1], actor=sys.argv[2])
    start = float(sys.argv[3])
    for n, bead_id in enumerate(sys.argv[4:]):
        # Both processes close their bead of convoy n at the same instant.
        while time.time() < start + n * 0.15:
            time.sleep(0.0005)
        town.beads.close(bead_id, reason="done")
    """
)


def test_two_processes_closing_the_last_two_beads_at_once_land_it_once(mail_town: Town) -> None:
    convoys: list[tuple[str, str, str]] = []
    for n in range(8):
        a = mail_town.beads.create(f"alpha {n}", rig="alpha").id
        b = mail_town.beads.create(f"beta {n}", rig="beta").id
        convoy = mail_town.convoys.create(f"race {n}", [a, b], notify=["mayor"])
        convoys.append((convoy.id, a, b))
    start = time.time() + 1.5  # both processes are up and waiting by then
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLOSER,
                str(mail_town.root),
                agent,
                str(start),
                *[c[index] for c in convoys],
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for agent, index in (("alpha/furiosa", 1), ("beta/slit", 2))
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    landed_events = events_of(mail_town, "convoy.landed")
    assert sorted(e["convoy"] for e in landed_events) == sorted(c[0] for c in convoys)
    for convoy_id, _, _ in convoys:
        convoy = mail_town.convoys.get(convoy_id)
        assert convoy.state == "landed" and convoy.landings == 1 and convoy.notified == 1
        assert len(landed_mail(mail_town, "overseer", convoy_id)) == 1
        assert len(landed_mail(mail_town, "mayor", convoy_id)) == 1
    assert mail_town.convoys.check_landings() == []
    assert len(landed_mail(mail_town, "overseer")) == len(convoys)


CHECKER = textwrap.dedent(
    """
    import sys, time
    from gastown_tui.town.town import Town
    town = Town.open(sys.argv[1])
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.0005)
    print(len(town.convoys.check_landings()))
    """
)


def test_racing_checkers_land_a_finished_convoy_once(mail_town: Town) -> None:
    ids = make_beads(mail_town, 2)
    convoy = mail_town.convoys.create("all done behind its back", ids)
    # Close the beads without the close listener, as an import or a crash before it would.
    mail_town.close_listeners.clear()
    for bead_id in ids:
        mail_town.beads.close(bead_id)
    assert mail_town.convoys.get(convoy.id).state == "open"
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHECKER, str(mail_town.root), str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(int(out))
    assert sorted(results) == [0, 0, 0, 1]
    assert len(landed_mail(mail_town, "overseer", convoy.id)) == 1
    assert len(events_of(mail_town, "convoy.landed")) == 1


def test_a_landing_whose_mail_was_lost_is_mailed_once_later(mail_town: Town) -> None:
    ids = make_beads(mail_town, 1)
    convoy = mail_town.convoys.create("crashy", ids, notify=["mayor"])
    # A process that landed the convoy and died before mailing: landed, mail not confirmed.
    with mail_town.storage.town_file().transaction() as txn:
        for doc in txn.raw(CONVOYS).values():
            if doc["id"] == convoy.id:
                doc.update(landed_at="2026-01-01T00:00:00.000Z", landings=1, notified=0)
                txn.mark_dirty()
    # It may even have mailed the owner before dying.
    mail_town.mail.send(
        ["overseer"], "partial", "x", message_id=landing_message_id(convoy.id, 1), sender="deacon"
    )
    assert mail_town.convoys.check_landings() == []  # nothing new landed …
    assert len(inbox_docs(mail_town, "overseer")) == 1  # … the owner's copy is not repeated
    assert len(landed_mail(mail_town, "mayor", convoy.id)) == 1  # the missing one is sent
    assert mail_town.convoys.get(convoy.id).notified == 1
    mail_town.convoys.check_landings()
    assert len(inbox_docs(mail_town, "mayor")) == 1


def test_adding_a_bead_reopens_a_landed_convoy_and_it_lands_again(
    gtm: GtCall, mail_town: Town
) -> None:
    a1, b1 = make_beads(mail_town, 1)
    convoy_id = ok(gtm("convoy", "create", "Waves", a1, b1)).stdout.strip()
    mail_town.beads.close(a1)
    mail_town.beads.close(b1)
    assert mail_town.convoys.get(convoy_id).state == "landed"

    # Only closed beads added: nothing is in flight, it stays landed and nobody is mailed.
    done = mail_town.beads.create("already done", rig="beta")
    mail_town.beads.close(done.id)
    ok(gtm("convoy", "add", convoy_id, done.id))
    assert mail_town.convoys.get(convoy_id).state == "landed"
    assert len(landed_mail(mail_town, "overseer", convoy_id)) == 1

    more = mail_town.beads.create("second wave", rig="alpha")
    proc = ok(gtm("convoy", "add", convoy_id, more.id, a1))  # a1 is tracked already
    assert "reopened" in proc.stdout
    convoy = mail_town.convoys.get(convoy_id)
    assert convoy.state == "open" and convoy.beads == [a1, b1, done.id, more.id]
    assert events_of(mail_town, "convoy.reopened")[0]["convoy"] == convoy_id
    status = as_json(gtm("convoy", "status", convoy_id, "--json"))
    assert (status["done"], status["total"]) == (3, 4)

    ok(gtm("bead", "close", more.id))
    convoy = mail_town.convoys.get(convoy_id)
    assert convoy.state == "landed" and convoy.landings == 2
    mails = landed_mail(mail_town, "overseer", convoy_id)
    assert sorted(m["id"] for m in mails) == [f"{convoy_id}-landed-1", f"{convoy_id}-landed-2"]
    assert len(events_of(mail_town, "convoy.landed")) == 2


def test_closed_and_empty_convoys_never_land(gtm: GtCall, mail_town: Town) -> None:
    a1, b1 = make_beads(mail_town, 1)
    empty = mail_town.convoys.create("nothing yet")
    dropped = ok(gtm("convoy", "create", "dropped", a1, b1)).stdout.strip()
    ok(gtm("convoy", "close", dropped))
    bad(gtm("convoy", "close", dropped), "already closed")
    bad(gtm("convoy", "add", dropped, a1), "is closed")
    mail_town.beads.close(a1)
    mail_town.beads.close(b1)
    assert mail_town.convoys.check_landings() == []
    assert mail_town.convoys.get(dropped).state == "closed"
    assert mail_town.convoys.get(empty.id).state == "open"
    assert landed_mail(mail_town, "overseer") == []
    assert [c.id for c in mail_town.convoys.list()] == [empty.id]
    states = {c["id"]: c["state"] for c in as_json(gtm("convoy", "list", "--all", "--json"))}
    assert states == {empty.id: "open", dropped: "closed"}
    # The empty one takes beads later and then lands like any other.
    ok(gtm("convoy", "add", empty.id, a1))
    assert mail_town.convoys.get(empty.id).state == "landed"


def test_a_convoy_of_closed_beads_lands_at_creation(mail_town: Town) -> None:
    (a1,) = make_beads(mail_town, 1)[:1]
    mail_town.beads.close(a1)
    convoy = mail_town.convoys.create("retroactive", [a1])
    assert convoy.state == "landed"
    assert len(landed_mail(mail_town, "overseer", convoy.id)) == 1


def test_landing_mail_to_an_owner_that_went_away_reaches_the_overseer(mail_town: Town) -> None:
    a1, b1 = make_beads(mail_town, 1)
    town = Town.open(mail_town.root, actor="alpha/ghost")  # an agent with no polecat record
    convoy = town.convoys.create("orphaned", [a1, b1], auto=True)
    assert convoy.owner == "alpha/ghost" and convoy.auto
    with pytest.raises(GtError, match="alpha/ghost"):
        town.convoys.create("explicit owners must exist", [a1], owner="alpha/ghost")
    town.beads.close(a1)
    town.beads.close(b1)
    (mail,) = landed_mail(mail_town, "overseer", convoy.id)
    assert not mail_town.paths.mail_file("alpha/ghost").exists()
    assert mail["to"] == ["overseer"]


def test_beads_moved_to_the_archive_still_count_as_closed(mail_town: Town) -> None:
    # Archive every closed bead at once, so the convoy's beads live only in store/archive.
    with mail_town.paths.town_toml.open("a") as handle:
        handle.write("\n[store]\narchive_closed_over = 0\nkeep_closed_in_rig = 0\n")
    town = Town.open(mail_town.root)
    a1, a2, b1 = (
        town.beads.create("one", rig="alpha").id,
        town.beads.create("two", rig="alpha").id,
        town.beads.create("three", rig="beta").id,
    )
    convoy = town.convoys.create("archived along the way", [a1, a2, b1])
    town.beads.close(a1)
    town.beads.close(a2)
    live = {d["id"] for d in town.storage.beads.docs("alpha")}
    assert a1 not in live and a2 not in live  # archived
    status = town.convoys.status(convoy.id)
    assert (status["done"], status["total"]) == (2, 3)
    town.beads.close(b1)
    assert town.convoys.get(convoy.id).state == "landed"
    assert len(landed_mail(town, "overseer", convoy.id)) == 1


def test_a_slings_quiet_convoy_lands_without_mailing_its_owner(mail_town: Town) -> None:
    quiet_bead, loud_bead = make_beads(mail_town, 1)
    quiet = mail_town.convoys.create("one bead", [quiet_bead], quiet=True)
    watched = mail_town.convoys.create("one bead", [loud_bead], quiet=True, notify=["mayor"])
    mail_town.beads.close(quiet_bead)
    mail_town.beads.close(loud_bead)
    assert mail_town.convoys.get(quiet.id).landed_at, "it still lands (event, app note)"
    assert landed_mail(mail_town, "overseer") == [], "no mail per sling"
    assert [m for m in landed_mail(mail_town, "mayor") if watched.id in m["subject"]]
    events = [e for e in mail_town.events.iter_all() if e.type == "convoy.landed"]
    assert len(events) == 2
    assert mail_town.convoys.check_landings() == []
    assert landed_mail(mail_town, "overseer") == []
