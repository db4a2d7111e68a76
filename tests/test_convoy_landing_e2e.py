"""A convoy over two rigs lands exactly once when the last bead closes from a `gt done` in an
agent window (real tmux, demo runtime), and its owner gets exactly one "landed" mail."""

from __future__ import annotations

import json
from pathlib import Path

from gastown_tui.town.town import Town
from tests.conftest import GtRunner, make_git_repo
from tests.polecat_fixtures import wait_until

pytest_plugins = ["tests.polecat_fixtures"]


def test_convoy_over_two_rigs_lands_once_from_agent_windows(
    rig_town: Town, pgt: GtRunner, tmp_path: Path
) -> None:
    make_git_repo(tmp_path / "second", {"app.py": "print('hi')\n"})
    assert pgt("rig", "add", "bravo", str(tmp_path / "second"), "--prefix", "br").returncode == 0
    first = pgt("bead", "create", "Alpha part", "--rig", "alpha").stdout.strip()
    second = pgt("bead", "create", "Bravo part", "--rig", "bravo").stdout.strip()
    made = pgt("convoy", "create", "Two-rig release", first, second, "--notify", "mayor")
    assert made.returncode == 0, made.stderr
    convoy = made.stdout.strip().split()[-1] if " " in made.stdout.strip() else made.stdout.strip()
    for bead, rig in ((first, "alpha"), (second, "bravo")):
        slung = pgt("sling", bead, rig, "--agent", "demo", "--convoy", convoy)
        assert slung.returncode == 0, slung.stderr

    def landed() -> bool:
        status = json.loads(pgt("convoy", "status", convoy, "--json").stdout)
        return bool(status.get("landed_at"))

    wait_until(landed, timeout=60, what="the convoy to land")
    status = json.loads(pgt("convoy", "status", convoy, "--json").stdout)
    assert status["done"] == status["total"] == 2
    # Whichever process closed the last bead landed it; later checks add nothing.
    assert pgt("convoy", "check").returncode == 0
    events = [e for e in rig_town.events.iter_all() if e.type == "convoy.landed"]
    assert len(events) == 1
    for address in ("overseer", "mayor"):
        inbox = json.loads(pgt("mail", "inbox", address, "--json").stdout)
        landed_mail = [m for m in inbox if convoy in m["subject"] and "landed" in m["subject"]]
        assert len(landed_mail) == 1, (address, [m["subject"] for m in inbox])
