"""`gt escalate`: the right inboxes, the bead blocked with the reason, nothing on bad input."""

from __future__ import annotations

from gastown_tui.town.town import Town
from tests import mail_fixtures
from tests.mail_fixtures import GtCall, as_json, bad, events_of, inbox_docs, ok, store_snapshot

mail_town = mail_fixtures.mail_town
gtm = mail_fixtures.gtm


def test_escalate_blocks_the_bead_and_mails_witness_and_mayor(gtm: GtCall, mail_town: Town) -> None:
    bead = mail_town.beads.create("Port the parser", rig="alpha")
    mail_town.beads.update(bead.id, assignee="alpha/furiosa", status="in_progress")
    proc = ok(
        gtm(
            "escalate",
            "-s",
            "Tests need a database",
            "-m",
            "The suite wants postgres; none here.",
            "--severity",
            "high",
            "--bead",
            bead.id,
            agent="alpha/furiosa",
        )
    )
    assert f"{bead.id} marked blocked" in proc.stdout
    for address in ("alpha/witness", "mayor"):
        (doc,) = inbox_docs(mail_town, address)
        assert doc["type"] == "escalation" and doc["priority"] == "high"
        assert doc["from"] == "alpha/furiosa"
        assert doc["subject"] == "ESCALATION [high]: Tests need a database"
        assert "postgres" in doc["body"] and bead.id in doc["body"]
        assert doc["meta"] == {"severity": "high", "bead": bead.id}
    assert inbox_docs(mail_town, "overseer") == []  # only critical reaches the person
    assert inbox_docs(mail_town, "beta/witness") == []

    blocked = mail_town.beads.get(bead.id)
    assert blocked.status == "blocked" and blocked.assignee == "alpha/furiosa"
    comment = blocked.comments[-1]
    assert comment.author == "alpha/furiosa"
    assert "Tests need a database" in comment.text and "postgres" in comment.text
    assert events_of(mail_town, "bead.escalated")[0]["bead"] == bead.id


def test_critical_also_mails_the_overseer_and_gt_rig_picks_the_witness(
    gtm: GtCall, mail_town: Town
) -> None:
    out = as_json(
        gtm(
            "escalate",
            "-s",
            "Disk full",
            "-m",
            "builds fail",
            "--severity",
            "critical",
            "--json",
            agent="mayor",
            env={"GT_RIG": "beta"},
        )
    )
    assert sorted(m["inbox"] for m in out["messages"]) == ["beta/witness", "mayor", "overseer"]
    (doc,) = inbox_docs(mail_town, "overseer")
    assert doc["priority"] == "urgent" and doc["type"] == "escalation"
    assert out["bead"] is None


def test_the_beads_rig_is_used_when_the_caller_has_none(gtm: GtCall, mail_town: Town) -> None:
    bead = mail_town.beads.create("Answer the customer", rig="beta")
    ok(gtm("escalate", "-s", "Need a refund decision", "--bead", bead.id))  # the overseer
    assert len(inbox_docs(mail_town, "beta/witness")) == 1
    assert inbox_docs(mail_town, "mayor")[0]["priority"] == "normal"  # medium by default
    assert mail_town.beads.get(bead.id).status == "blocked"


def test_without_any_rig_the_witness_is_skipped_and_said_so(gtm: GtCall, mail_town: Town) -> None:
    proc = ok(gtm("escalate", "-s", "Which rig?", "-m", "unsure"))
    assert "no witness mailed" in proc.stderr
    assert len(inbox_docs(mail_town, "mayor")) == 1
    assert not any(inbox_docs(mail_town, f"{rig}/witness") for rig in ("alpha", "beta"))


def test_bad_escalations_store_nothing(gtm: GtCall, mail_town: Town) -> None:
    done = mail_town.beads.create("Already done", rig="alpha")
    mail_town.beads.close(done.id)
    before = store_snapshot(mail_town)
    bad(gtm("escalate", "-s", "x", "--bead", "al-zzzzz"), "unknown bead 'al-zzzzz'")
    bad(gtm("escalate", "-s", "x", "--bead", done.id), f"{done.id} is closed")
    bad(gtm("escalate", "-s", " ", "-m", "x"), "non-empty subject")
    bad(gtm("escalate", "-s", "x", env={"GT_RIG": "delta"}), "unknown rig 'delta'")
    proc = gtm("escalate", "-s", "x", "--severity", "apocalyptic")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    assert store_snapshot(mail_town) == before
