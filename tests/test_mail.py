"""Mail: the real `gt mail` CLI in separate processes, and MailStore in-process."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from gastown_tui.town.addresses import resolve
from gastown_tui.town.errors import GtError, StoreCorrupt
from gastown_tui.town.storage.file_backend import MESSAGES, splice_insert
from gastown_tui.town.town import Town
from tests import mail_fixtures
from tests.mail_fixtures import (
    ROOT,
    GtCall,
    add_polecat,
    as_json,
    bad,
    events_of,
    inbox_docs,
    ok,
    run_gt,
    store_snapshot,
)

# pytest finds fixtures by module attribute; plain assignments keep the linter content.
mail_town = mail_fixtures.mail_town
gtm = mail_fixtures.gtm

SENT = re.compile(r"^sent (msg-[0-9a-z]{10}) to ", re.M)
DOCUMENTED = {
    "id",
    "from",
    "to",
    "cc",
    "subject",
    "body",
    "type",
    "priority",
    "thread",
    "reply_to",
    "created",
    "read",
}


def sent_id(proc: subprocess.CompletedProcess[str]) -> str:
    match = SENT.search(ok(proc).stdout)
    assert match, proc.stdout
    return match.group(1)


# round trip --------------------------------------------------------------------------------
def test_send_inbox_read_reply_thread_round_trip(gtm: GtCall, mail_town: Town) -> None:
    # The overseer (no GT_AGENT) writes to a polecat.
    first = sent_id(gtm("mail", "send", "alpha/furiosa", "-s", "Look at al-1", "-m", "Details."))
    inbox = as_json(gtm("mail", "inbox", "--json", agent="alpha/furiosa"))
    assert [m["id"] for m in inbox] == [first]
    message = inbox[0]
    assert message.keys() >= DOCUMENTED
    assert message["from"] == "overseer" and message["to"] == ["alpha/furiosa"]
    assert message["read"] is False and message["type"] == "notification"
    assert message["priority"] == "normal" and message["thread"] == first

    # Reading it in one process marks it read for every later process.
    shown = ok(gtm("mail", "read", first, agent="alpha/furiosa")).stdout
    assert "Look at al-1" in shown and "Details." in shown and "from overseer" in shown
    assert as_json(gtm("mail", "inbox", "--unread", "--json", agent="alpha/furiosa")) == []
    again = as_json(gtm("mail", "inbox", "--json", agent="alpha/furiosa"))
    assert again[0]["read"] is True and again[0]["read_at"]

    # The polecat replies; another polecat chimes in on the thread, copying the overseer.
    reply = sent_id(gtm("mail", "reply", first, "-m", "On it.", agent="alpha/furiosa"))
    overseer_inbox = as_json(gtm("mail", "inbox", "--json"))
    assert [m["id"] for m in overseer_inbox] == [reply]
    got = overseer_inbox[0]
    assert got["from"] == "alpha/furiosa" and got["type"] == "reply"
    assert got["subject"] == "Re: Look at al-1"
    assert got["reply_to"] == first and got["thread"] == first

    answer = sent_id(gtm("mail", "reply", reply, "-m", "Thanks.", "--priority", "high"))
    assert inbox_docs(mail_town, "alpha/furiosa")[-1]["priority"] == "high"
    # Replying marked the overseer's copy read.
    assert as_json(gtm("mail", "inbox", "--unread", "--json")) == []

    third = sent_id(
        gtm(
            "mail",
            "send",
            "alpha/furiosa",
            "-s",
            "ping",
            "-m",
            "separate thread",
            "--cc",
            "overseer",
            agent="alpha/nux",
        )
    )
    thread = as_json(gtm("mail", "thread", reply, "--json", agent="beta/slit"))
    assert [m["id"] for m in thread] == [first, reply, answer]
    assert [m["from"] for m in thread] == ["overseer", "alpha/furiosa", "overseer"]
    assert third not in {m["id"] for m in thread}
    text = ok(gtm("mail", "thread", first)).stdout
    assert text.index("Details.") < text.index("On it.") < text.index("Thanks.")

    # The cc'd overseer has its own copy; furiosa has all three messages addressed to it.
    assert {m["id"] for m in as_json(gtm("mail", "inbox", "--json"))} == {reply, third}
    assert [m["id"] for m in as_json(gtm("mail", "inbox", "alpha/furiosa", "--json"))] == [
        third,
        answer,
        first,
    ]


def test_inbox_defaults_to_the_calling_agent_and_read_only_marks_your_own_copy(
    gtm: GtCall,
) -> None:
    mid = sent_id(gtm("mail", "send", "alpha/nux", "mayor", "-s", "both", "-m", "x"))
    # The overseer peeks into nux's copy: shown, but nux still sees it unread.
    peek = as_json(gtm("mail", "read", mid, "--inbox", "alpha/nux", "--json", agent="mayor"))
    assert peek["inbox"] == "alpha/nux" and peek["read"] is False
    assert len(as_json(gtm("mail", "inbox", "--unread", "--json", agent="alpha/nux"))) == 1
    ok(gtm("mail", "read", mid[:9]))  # a unique prefix; not the overseer's message: no mark
    mayor = as_json(gtm("mail", "inbox", "--json", agent="mayor"))
    assert mayor[0]["read"] is False
    ok(gtm("mail", "read", mid, agent="mayor"))
    assert as_json(gtm("mail", "inbox", "mayor", "--json"))[0]["read"] is True


def test_send_with_stdin_and_json(gtm: GtCall, mail_town: Town) -> None:
    body = "line one\nline two — ünïcode\n"
    sent = as_json(
        gtm(
            "mail",
            "send",
            "mayor",
            "-s",
            "HELP: stuck",
            "--stdin",
            "--type",
            "task",
            "--priority",
            "urgent",
            "--json",
            input=body,
            agent="beta/slit",
        )
    )
    assert len(sent) == 1 and sent[0]["body"] == body and sent[0]["inbox"] == "mayor"
    assert sent[0]["type"] == "task" and sent[0]["priority"] == "urgent"
    assert sent[0]["from"] == "beta/slit"
    assert inbox_docs(mail_town, "mayor")[0]["body"] == body


# groups ------------------------------------------------------------------------------------
def test_group_fan_out_counts(gtm: GtCall, mail_town: Town) -> None:
    agents = {
        "mayor",
        "deacon",
        "alpha/witness",
        "alpha/refinery",
        "alpha/furiosa",
        "alpha/nux",
        "beta/witness",
        "beta/refinery",
        "beta/slit",
    }
    assert set(resolve(mail_town, "@town")) == agents
    assert "overseer" not in resolve(mail_town, "@town")  # documented: cc the overseer
    ok(gtm("mail", "send", "@town", "-s", "all hands", "-m", "x"))
    for address in agents:
        assert len(inbox_docs(mail_town, address)) == 1, address
    assert inbox_docs(mail_town, "overseer") == []

    ok(gtm("mail", "send", "@rig/alpha", "-s", "alpha only", "-m", "x"))
    ok(gtm("mail", "send", "@polecats/beta", "-s", "beta polecats", "-m", "x"))
    counts = {a: len(inbox_docs(mail_town, a)) for a in agents}
    assert counts == {
        "mayor": 1,
        "deacon": 1,
        "alpha/witness": 2,
        "alpha/refinery": 2,
        "alpha/furiosa": 2,
        "alpha/nux": 2,
        "beta/witness": 1,
        "beta/refinery": 1,
        "beta/slit": 2,
    }

    # An address reached several ways gets one copy.
    proc = gtm(
        "mail",
        "send",
        "alpha/furiosa",
        "@polecats/alpha",
        "@rig/alpha",
        "-s",
        "dedupe",
        "-m",
        "x",
        "--cc",
        "alpha/furiosa",
        "--cc",
        "overseer",
    )
    mid = sent_id(proc)
    copies = {
        a: [d for d in inbox_docs(mail_town, a) if d["id"] == mid] for a in [*agents, "overseer"]
    }
    assert {a for a, c in copies.items() if c} == {
        "alpha/furiosa",
        "alpha/nux",
        "alpha/witness",
        "alpha/refinery",
        "overseer",
    }
    assert all(len(c) <= 1 for c in copies.values())
    assert copies["alpha/nux"][0]["to"] == ["alpha/furiosa", "@polecats/alpha", "@rig/alpha"]
    assert copies["overseer"][0]["inbox"] == "overseer"
    event = events_of(mail_town, "mail.sent")[-1]
    assert event["id"] == mid and len(event["to"]) == 5


def test_an_empty_polecat_group_is_refused(mail_town: Town, tmp_path: Path) -> None:
    (tmp_path / "gamma-dir").mkdir()
    mail_town.rigs.add("gamma", str(tmp_path / "gamma-dir"), no_git=True)
    with pytest.raises(GtError, match="no members"):
        mail_town.mail.send(["@polecats/gamma"], "nobody home", "x")
    assert resolve(mail_town, "@rig/gamma") == ["gamma/witness", "gamma/refinery"]
    add_polecat(mail_town, "gamma", "toast")
    assert resolve(mail_town, "@polecats/gamma") == ["gamma/toast"]


# bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["alpha/ghost"], ["unknown address 'alpha/ghost'", "furiosa, nux", "@town"]),
        (["delta/witness"], ["no rig 'delta'", "alpha, beta"]),
        (["mayor", "@crew"], ["unknown group '@crew'"]),
        (["@rig/delta"], ["no rig 'delta'"]),
        (["mayr"], ["unknown address 'mayr'", "overseer, mayor, deacon"]),
        (["mayor", "--cc", "alpha/ghost"], ["alpha/ghost"]),
        (["alpha/furiosa/x"], ["unknown address"]),
    ],
)
def test_unknown_addresses_store_nothing(
    gtm: GtCall, mail_town: Town, args: list[str], words: list[str]
) -> None:
    before = store_snapshot(mail_town)
    bad(gtm("mail", "send", *args, "-s", "hello", "-m", "x"), *words)
    assert store_snapshot(mail_town) == before
    assert not any(mail_town.paths.mail_dir.iterdir())


def test_other_bad_input_stores_nothing(gtm: GtCall, mail_town: Town) -> None:
    before = store_snapshot(mail_town)
    bad(gtm("mail", "send", "mayor", "-s", "  ", "-m", "x"), "non-empty subject")
    bad(gtm("mail", "send", "mayor", "-s", "a\nb", "-m", "x"), "one line")
    bad(gtm("mail", "reply", "msg-doesnotexist", "-m", "x"), "no message 'msg-doesnotexist'")
    bad(gtm("mail", "read", "msg-nope"), "no message")
    bad(gtm("mail", "thread", "msg-nope"), "no message")
    bad(gtm("mail", "archive", "msg-nope"), "no message")
    bad(gtm("mail", "inbox", "alpha/ghost"), "unknown address")
    bad(gtm("mail", "inbox", "@town"), "is a group")
    bad(gtm("mail", "send", "mayor", "-s", "x", "-m", "y", "--stdin", input="z"), "not both")
    # argparse refusals are exit 2 as well (usage + error lines).
    for args in (["--type", "gossip"], ["--priority", "meh"]):
        proc = gtm("mail", "send", "mayor", "-s", "x", "-m", "y", *args)
        assert proc.returncode == 2 and "invalid choice" in proc.stderr
    assert store_snapshot(mail_town) == before


def test_a_reply_to_a_sender_that_no_longer_exists_is_refused(mail_town: Town) -> None:
    add_polecat(mail_town, "beta", "ghost")
    mail_town.mail.send(["beta/ghost"], "welcome", "x")
    sent = mail_town.mail.send(["overseer"], "hi", "from a polecat", sender="beta/ghost")
    with mail_town.beads.rig_txn("beta") as tx:
        tx.remove_polecat("ghost")
    before = store_snapshot(mail_town)
    with pytest.raises(GtError, match="beta/ghost"):
        mail_town.mail.reply(sent[0].id, "thanks", sender="overseer")
    assert store_snapshot(mail_town) == before
    # Its old inbox can still be read; new mail to it is refused.
    assert len(as_json(run_gt(mail_town, "mail", "inbox", "beta/ghost", "--json"))) == 1
    bad(run_gt(mail_town, "mail", "send", "beta/ghost", "-s", "x", "-m", "y"), "no polecat")
    assert len(inbox_docs(mail_town, "beta/ghost")) == 1


# concurrency -------------------------------------------------------------------------------
SENDER = textwrap.dedent(
    """
    import sys
    from gastown_tui.town.town import Town
    town = Town.open(sys.argv[1], actor=sys.argv[2])
    for n in range(int(sys.argv[3])):
        town.mail.send(["mayor"], f"{sys.argv[2]} #{n}", f"body {n}")
    """
)


def test_four_processes_sending_200_each_lose_and_duplicate_nothing(mail_town: Town) -> None:
    senders = ["alpha/furiosa", "alpha/nux", "beta/slit", "overseer"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SENDER, str(mail_town.root), who, "200"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in senders
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    docs = inbox_docs(mail_town, "mayor")
    assert len(docs) == 800
    assert len({d["id"] for d in docs}) == 800
    subjects = {d["subject"] for d in docs}
    assert subjects == {f"{who} #{n}" for who in senders for n in range(200)}
    # Each sender's messages arrived in the order it sent them.
    for who in senders:
        mine = [int(d["subject"].rsplit("#", 1)[1]) for d in docs if d["from"] == who]
        assert mine == list(range(200))
    raw = orjson.loads(mail_town.paths.mail_file("mayor").read_bytes())
    assert sorted(map(int, raw[MESSAGES])) == list(range(1, 801))
    assert mail_town.mail.unread_count("mayor") == 800


# idempotence, hooks, archive ---------------------------------------------------------------
def test_a_given_message_id_is_delivered_once(mail_town: Town) -> None:
    first = mail_town.mail.send(["mayor", "overseer"], "once", "x", message_id="cv-abcde-landed-1")
    assert [m.inbox for m in first] == ["mayor", "overseer"]
    assert (
        mail_town.mail.send(["mayor", "overseer"], "once", "x", message_id="cv-abcde-landed-1")
        == []
    )
    # A partial earlier delivery is completed, not repeated.
    more = mail_town.mail.send(["mayor", "deacon"], "once", "x", message_id="cv-abcde-landed-1")
    assert [m.inbox for m in more] == ["deacon"]
    for address in ("mayor", "overseer", "deacon"):
        assert len(inbox_docs(mail_town, address)) == 1


def test_delivery_hooks_are_called_and_a_failing_one_loses_nothing(mail_town: Town) -> None:
    seen: list[list[str]] = []

    def nudge(messages: list) -> None:
        seen.append([m.inbox for m in messages])

    def broken(messages: list) -> None:
        raise RuntimeError("tmux is gone")

    mail_town.mail.on_delivered.extend([broken, nudge])
    stored = mail_town.mail.send(["@polecats/alpha"], "work", "x")
    assert seen == [["alpha/furiosa", "alpha/nux"]]
    assert len(stored) == 2 and len(inbox_docs(mail_town, "alpha/nux")) == 1
    assert mail_town.mail.hook_errors and "tmux is gone" in mail_town.mail.hook_errors[0]
    assert "tmux is gone" in events_of(mail_town, "mail.hook_failed")[0]["msg"]
    # A repeated idempotent send delivers nothing and so calls nobody.
    mail_town.mail.send(["mayor"], "x", "y", message_id="fixed-1")
    mail_town.mail.send(["mayor"], "x", "y", message_id="fixed-1")
    assert seen[-1] == ["mayor"] and len(seen) == 2


def test_archive_moves_mail_to_the_monthly_archive(gtm: GtCall, mail_town: Town) -> None:
    ids = [sent_id(gtm("mail", "send", "overseer", "-s", f"m{n}", "-m", "x")) for n in range(3)]
    before = store_snapshot(mail_town)
    bad(gtm("mail", "archive", ids[0], "msg-nope"), "no message 'msg-nope'")
    assert store_snapshot(mail_town) == before
    ok(gtm("mail", "archive", ids[0], ids[1]))
    assert [d["id"] for d in inbox_docs(mail_town, "overseer")] == [ids[2]]
    archives = list(mail_town.paths.archive_dir.glob("*.json"))
    assert len(archives) == 1 and re.fullmatch(r"\d{4}-\d{2}\.json", archives[0].name)
    archived = orjson.loads(archives[0].read_bytes())["mail"]
    assert sorted(d["id"] for d in archived.values()) == sorted(ids[:2])
    everything = as_json(gtm("mail", "inbox", "--all", "--json"))
    assert [(m["id"], m["archived"]) for m in everything] == [
        (ids[2], False),
        (ids[1], True),
        (ids[0], True),
    ]
    # Archived messages still belong to their thread and can be read and replied to.
    assert as_json(gtm("mail", "read", ids[0], "--json"))["archived"] is True
    ok(gtm("mail", "reply", ids[0], "-m", "late answer"))


def test_archive_read_keeps_unread_and_the_newest_read(mail_town: Town) -> None:
    sent = [mail_town.mail.send(["mayor"], f"n{n}", "x")[0] for n in range(10)]
    for message in sent[:8]:
        mail_town.mail.mark_read(message.id, "mayor")
    assert mail_town.mail.archive_read("mayor", keep=3) == 5
    left = [m.subject for m in mail_town.mail.inbox("mayor")]
    assert left == ["n9", "n8", "n7", "n6", "n5"]
    assert len(mail_town.mail.inbox("mayor", include_archived=True)) == 10


def test_status_summary_reports_the_overseers_unread_mail(mail_town: Town) -> None:
    assert mail_town.mail.status_summary()["overseer_unread"] == 0
    for n in range(7):
        mail_town.mail.send(["overseer"], f"subject {n}", "x", sender="mayor")
    first = mail_town.mail.inbox("overseer")[-1]
    mail_town.mail.mark_read(first.id, "overseer")
    summary = mail_town.mail.status_summary()
    assert summary["overseer_unread"] == 6
    assert summary["overseer_unread_subjects"] == [f"subject {n}" for n in (6, 5, 4, 3, 2)]
    assert mail_town.mail.unread_count("overseer") == 6


# the inbox file ----------------------------------------------------------------------------
def test_fast_append_matches_a_full_rewrite(mail_town: Town) -> None:
    for n in range(5):
        mail_town.mail.send(["mayor"], f"s{n}", 'quotes " and {"id":"x"} and \\ ', meta={"n": n})
    raw = mail_town.paths.mail_file("mayor").read_bytes()
    data = orjson.loads(raw)
    assert list(data) == [MESSAGES] and list(data[MESSAGES]) == ["1", "2", "3", "4", "5"]
    # What the splice produced is byte-for-byte what orjson would write for the same data.
    assert raw == orjson.dumps(data)


def test_unusual_inbox_layouts_take_the_general_path(mail_town: Town) -> None:
    path = mail_town.paths.mail_file("mayor")
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"subject": "hand made", "id": "msg-hand", "from": "overseer", "to": ["mayor"]}
    odd_layouts = [
        # a second table after the messages: the splice would land in the wrong table
        {"messages": {"1": {**doc, "id": "msg-first", "subject": "x"}}, "_default": {}},
        {"messages": {"7": doc}},  # a doc whose first key is not "id"
        {"messages": {"3": {"id": "msg-a"}, "2": {"id": "msg-b"}}},  # keys not ascending
    ]
    odd_layouts[0]["messages"]["1"] = {"id": "msg-first", **doc}
    for layout in odd_layouts:
        assert splice_insert(orjson.dumps(layout), {"id": "msg-new", "subject": "s"}) is None
        path.write_bytes(orjson.dumps(layout))
        mail_town.storage.store.cache.drop(path)
        stored = mail_town.mail.send(["mayor"], "after", "x")
        data = orjson.loads(path.read_bytes())
        assert len(data[MESSAGES]) == len(layout[MESSAGES]) + 1
        assert stored[0].id in {d["id"] for d in data[MESSAGES].values()}
        for table, docs in layout.items():
            assert set(docs) <= set(data[table])


def test_a_meta_id_does_not_confuse_the_fast_append(mail_town: Town) -> None:
    first = mail_town.mail.send(["mayor"], "a", "x", meta={"id": "msg-lookalike"})
    second = mail_town.mail.send(["mayor"], "b", "x")
    third = mail_town.mail.send(["mayor"], "c", "x", message_id="msg-lookalike")
    docs = inbox_docs(mail_town, "mayor")
    assert [d["id"] for d in docs] == [first[0].id, second[0].id, "msg-lookalike"]
    assert len(third) == 1


def test_a_corrupt_inbox_is_reported_never_reset(gtm: GtCall, mail_town: Town) -> None:
    path = mail_town.paths.mail_file("mayor")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"messages":{"1":{"id":"msg-x"')  # torn by hand
    proc = gtm("mail", "send", "mayor", "-s", "x", "-m", "y")
    assert proc.returncode == 1 and str(path) in proc.stderr and "gt doctor" in proc.stderr
    assert path.read_bytes() == b'{"messages":{"1":{"id":"msg-x"'
    with pytest.raises(StoreCorrupt):
        mail_town.mail.inbox("mayor")


def test_meta_must_be_flat(mail_town: Town) -> None:
    with pytest.raises(GtError, match="plain value"):
        mail_town.mail.send(["mayor"], "x", "y", meta={"nested": {"id": "x"}})
    assert not mail_town.paths.mail_file("mayor").exists()
