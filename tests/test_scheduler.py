"""The scheduler on real tmux, real processes and demo agents: racing slings never exceed
`max_polecats`, slings past a limit queue and are dispatched by priority then age, a role's
capacity and long-lived agents, formula steps flow from one role to the next, and the demo
town's customer-support team lands its ticket under `gt daemon` alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from gastown_tui.dispatch.scheduler import dispatch_pending
from gastown_tui.dispatch.tmuxfor import tmux_for
from gastown_tui.tmux import TownTmux
from gastown_tui.town.formulas import run_formula
from gastown_tui.town.scheduler import holdings, lock_path
from gastown_tui.town.storage.files import flocked
from gastown_tui.town.town import Town
from tests import polecat_fixtures as pf
from tests.conftest import ROOT, make_git_repo, run_gt, wait_until

polecat_env, tmux, reader = pf.polecat_env, pf.tmux, pf.reader


def set_max(town: Town, n: int, extra: str = "") -> None:
    with open(town.paths.town_toml, "a", encoding="utf-8") as handle:
        handle.write(f"\n[scheduler]\nmax_polecats = {n}\n{extra}")
    town.__dict__.pop("config", None)


def closed_ids(town: Town) -> set[str]:
    return {d["id"] for d in town.beads.list_docs(statuses=["closed"], include_archive=True)}


def done_events(town: Town) -> list[str]:
    lines = town.paths.root.joinpath("events.jsonl").read_bytes().splitlines()
    return [
        doc["bead"]
        for doc in map(orjson.loads, filter(None, lines))
        if doc.get("type") == "polecat.done" and doc.get("status") == "completed"
    ]


class Sampler(threading.Thread):
    """Samples the slots held (the store) every 20 ms until stopped; keeps the maximum."""

    def __init__(self, town: Town) -> None:
        super().__init__(daemon=True)
        self.town = Town(town.root)
        self.most = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            # Under the scheduler's lock: no sling hooks while the rig files are read one
            # after another, so a close in one and a hook in another cannot count twice.
            with flocked(lock_path(self.town)):
                self.most = max(self.most, holdings(self.town).total)
            self.samples += 1
            self.stop.wait(0.02)


def stuck_report(town: Town, tmux: TownTmux, beads: set[str]) -> str:
    """What a test that waited in vain for beads to be done needs to say why."""
    fresh = Town(town.root)
    done = set(done_events(fresh))
    lines = []
    stuck = sorted(beads - (closed_ids(fresh) & done))
    for bead_id in stuck:
        bead = fresh.beads.get(bead_id)
        lines.append(f"{bead_id}: {bead.status} {bead.assignee!r} done event: {bead_id in done}")
    lines.append(run_gt(fresh, "polecat", "list").stdout)
    # A server that restarted numbers its windows from @0 again and has a later start time.
    server = tmux.run("display-message", "-p", "#{pid} started #{start_time}", check=False)
    lines.append(f"tmux server: {server.stdout.strip() or server.stderr.strip()}")
    for window in tmux.list_windows():
        tail = tmux.capture(window.pane_id, lines=8).strip().splitlines()[-4:]
        lines.append(f"{window.target} {window.window_id} {window.pane_id} dead={window.pane_dead}")
        lines.append(f"  {tail}")
    events = fresh.paths.root.joinpath("events.jsonl").read_text().splitlines()
    for bead_id in stuck:
        lines += [f"events of {bead_id}:", *[e for e in events if bead_id in e]]
    lines += ["last events:", *events[-30:]]
    return "\n".join(lines)


def test_racing_slings_never_exceed_max_polecats(
    rig_town: Town, tmux: TownTmux, tmp_path: Path
) -> None:
    # Two rigs: the count spans rig files, so only a town-wide lock keeps it exact.
    rig_town.rigs.add("beta", str(make_git_repo(tmp_path / "beta-upstream")), prefix="be")
    set_max(rig_town, 3)
    sampler = Sampler(rig_town)
    sampler.start()
    env = {**os.environ, "GT_TOWN": str(rig_town.root)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gastown_tui",
                "sling",
                f"task {n}",
                ("alpha", "beta")[n % 2],
                "--agent",
                "demo",
                "--json",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(24)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    # --json reports a failed sling in stdout's "failed" list; other errors go to stderr.
    failed = [
        (p.returncode, o[0][-1500:], o[1][-600:])
        for p, o in zip(procs, outs, strict=True)
        if p.returncode
    ]
    assert not failed, failed
    results = [json.loads(o[0]) for o in outs]
    slung = [r["slung"][0]["bead"] for r in results if r["slung"]]
    queued = [r["queued"][0]["bead"] for r in results if r.get("queued")]
    odd = [r for r in results if not r["slung"] and not r.get("queued")]
    assert not odd, odd
    assert len(slung) + len(queued) == 24 and len(slung) >= 3 and queued
    assert all("max_polecats 3" in r["queued"][0]["why"] for r in results if r.get("queued"))
    # Queued slings are visible, then dispatched (priority, then age) as demo agents finish.
    listing = json.loads(run_gt(rig_town, "polecat", "list", "--json").stdout)
    if any(r["state"] == "queued" for r in listing):
        assert any(r["state"] == "queued" and r["bead"]["id"] in queued for r in listing)
    everything = set(slung) | set(queued)

    def drained() -> bool:
        dispatch_pending(rig_town, tmux)
        # `gt done` appends its event just after the close: wait for both.
        return everything <= closed_ids(rig_town) and everything <= set(done_events(rig_town))

    try:
        wait_until(drained, timeout=180, what="all 24 beads done")
    except pytest.fail.Exception:
        print(stuck_report(rig_town, tmux, everything))
        raise
    sampler.stop.set()
    sampler.join()
    assert sampler.samples > 10
    assert sampler.most <= 3, f"{sampler.most} polecats held work at once"
    done = done_events(rig_town)
    assert sorted(b for b in done if b in everything) == sorted(everything)  # none twice


def test_queued_slings_go_by_priority_then_age(rig_town: Town) -> None:
    from gastown_tui.town.scheduler import mark_queued, pending

    made = [
        rig_town.beads.create(title, rig="alpha", priority=p)
        for title, p in (("old low", 3), ("urgent", 0), ("new low", 3), ("normal", 2))
    ]
    for bead in made:
        mark_queued(rig_town, bead.id, why="full", runtime="demo", to=None, convoy=None)
        time.sleep(0.01)  # distinct queue times (ms stamps)
    rig_town.beads.create("not queued, no role", rig="alpha")
    order = [b.title for b in pending(rig_town)]
    assert order == ["urgent", "normal", "old low", "new low"]


def test_queue_order_capacity_long_lived_role_and_gt_role(
    rig_town: Town, tmux: TownTmux, reader: Path
) -> None:
    set_max(
        rig_town,
        5,
        '\n[roles.clerk]\nlong_lived = true\ncapacity = 1\nruntime = "reader"\n'
        'directive = "File things."\n',
    )
    first = rig_town.beads.create("first", rig="alpha", metadata={"role": "clerk"})
    second = rig_town.beads.create("second", rig="alpha", metadata={"role": "clerk"})
    actions = dispatch_pending(rig_town, tmux)
    assert actions == [f"dispatched {first.id} (clerk) to alpha/clerk"]
    polecat = rig_town.polecats.get("alpha/clerk")
    assert polecat.extra["role"] == "clerk" and polecat.runtime == "reader"
    env_file = Path(str(reader) + ".env.json")
    env = wait_until(lambda: env_file.exists() and json.loads(env_file.read_text()), what="env")
    assert env["env"]["GT_ROLE"] == "clerk" and env["env"]["GT_AGENT"] == "alpha/clerk"
    # A sling past the role's capacity queues, visibly.
    proc = run_gt(rig_town, "sling", second.id, "alpha", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["slung"] == [] and "role clerk at its capacity 1" in out["queued"][0]["why"]
    listing = run_gt(rig_town, "polecat", "list").stdout
    assert "queued" in listing and second.id in listing
    status = run_gt(rig_town, "status").stdout
    assert "1 holding work (max_polecats 5)" in status and f"queued: {second.id}" in status
    # The long-lived agent finishes: the same identity takes the next ticket.
    assert run_gt(rig_town, "done", "-m", "filed", agent="alpha/clerk").returncode == 0
    assert dispatch_pending(rig_town, tmux) == [f"dispatched {second.id} (clerk) to alpha/clerk"]
    assert rig_town.beads.get(second.id).metadata.get("queued") is None


def test_a_formula_flows_from_role_to_role_with_no_person(rig_town: Town, tmux: TownTmux) -> None:
    toml = rig_town.paths.town_toml.read_text().replace(
        'default_runtime = "claude"', 'default_runtime = "demo"'
    )
    rig_town.paths.town_toml.write_text(toml + '\n[roles.engineering]\nrigs = ["alpha"]\n')
    rig_town.__dict__.pop("config", None)
    run = run_formula(rig_town, "feature", {"feature": "a health endpoint"}, rig="alpha")

    def landed() -> bool:
        dispatch_pending(rig_town, tmux)
        return rig_town.convoys.get(run.convoy).landed_at is not None

    wait_until(landed, timeout=120, what="the feature convoy to land")
    beads = rig_town.beads.get_many(run.beads.values())
    assert (
        beads[run.beads["implement"]].close_reason
        == "IMPLEMENTED: module and flag added with tests."
    )
    # Each step went to an agent of its role, and only after the step it needs had closed.
    order = [e for e in done_events(rig_town) if e in run.beads.values()]
    assert order == [run.beads[s] for s in ("design", "implement", "review", "land")]


def test_demo_support_team_lands_its_ticket_under_the_daemon(
    tmp_path: Path, polecat_env: None
) -> None:
    from gastown_tui.tui.demo_town import build_demo_town

    report = build_demo_town(tmp_path / "fury-road", start_agents=True, step_seconds=0.05)
    town = report.town
    server = tmux_for(town)
    toml = town.paths.town_toml.read_text()
    for key in ("witness_interval", "deacon_interval"):
        toml = toml.replace(f'{key} = "10s"', f'{key} = "1s"')
    town.paths.town_toml.write_text(toml)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "daemon"],
        cwd=ROOT,
        env={**os.environ, "GT_TOWN": str(town.root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        convoy = report.support_convoy
        assert convoy is not None

        def landed() -> bool:
            assert daemon.poll() is None, daemon.stderr.read() if daemon.stderr else ""
            return Town(town.root).convoys.get(convoy).landed_at is not None

        wait_until(landed, timeout=240, what="the support convoy to land")
        fresh = Town(town.root)
        ticket = fresh.beads.get(report.bead_ids["ticket"])
        assert ticket.is_closed and ticket.close_reason.startswith("ANSWERED")
        # The escalation went up the chain and its answer came back by mail and to the step.
        front = fresh.mail.inbox("desk/front-line")
        assert any(m.body.startswith("ANSWER") for m in front)
        assert any(m.subject.startswith("Customer answered") for m in fresh.mail.inbox("overseer"))
        events = [
            orjson.loads(line)
            for line in town.paths.root.joinpath("events.jsonl").read_bytes().splitlines()
            if line
        ]
        kinds = {e["type"] for e in events}
        assert {"role.escalated", "bead.unblocked", "scheduler.dispatched"} <= kinds
        # Front line answered only after the fix step had closed.
        closes = {e["bead"]: e["ts"] for e in events if e["type"] == "bead.closed"}
        steps = {
            d["metadata"]["step"]: d["id"]
            for d in fresh.beads.list_docs(include_closed=True, include_archive=True)
            if (d.get("metadata") or {}).get("formula") == "customer-support"
        }
        assert closes[steps["fix"]] <= closes[ticket.id]
        # A new ticket arrives as a bead: the intake starts its formula, and it flows too.
        made = run_gt(town, "bead", "create", "Customer B: slow", "--rig", "desk", "-l", "ticket")
        assert made.returncode == 0, made.stderr
        second = made.stdout.strip()

        def answered() -> bool:
            assert daemon.poll() is None
            now = Town(town.root)
            taken = now.beads.get(second).metadata.get("intake")
            return bool(taken) and now.convoys.get(taken["convoy"]).landed_at is not None

        wait_until(answered, timeout=240, what="the second ticket's convoy to land")
        assert Town(town.root).beads.get(second).close_reason.startswith("ANSWERED")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
        server.kill_server()
        server.socket_path().unlink(missing_ok=True)
        time.sleep(0)


def test_a_formula_runs_with_model_backed_agents_against_a_scripted_server(
    rig_town: Town, tmux: TownTmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The built-in agent (a real anthropic SDK client in each step's window) works each step;
    the second step's first prompt carries its role's directive and the first step's note."""
    from tests.fake_anthropic import Reply, serve, tool_use

    toml = rig_town.paths.town_toml.read_text().replace(
        'default_runtime = "claude"', 'default_runtime = "builtin"'
    )
    rig_town.paths.town_toml.write_text(toml)
    rig_town.__dict__.pop("config", None)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-key")
    notes = ["DESIGN: a /health route", "IMPLEMENTED: route and test", "REVIEW: ok", "LANDED"]
    script = [
        Reply([tool_use("gt_done", {"note": note}, f"tu_{n}")], "tool_use")
        for n, note in enumerate(notes)
    ]
    with serve(script) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        run = run_formula(rig_town, "feature", {"feature": "a health endpoint"}, rig="alpha")

        def landed() -> bool:
            dispatch_pending(rig_town, tmux)
            return rig_town.convoys.get(run.convoy).landed_at is not None

        wait_until(landed, timeout=120, what="the feature convoy to land")
    beads = rig_town.beads.get_many(run.beads.values())
    assert [
        beads[run.beads[s]].close_reason for s in ("design", "implement", "review", "land")
    ] == notes
    second = fake.requests[1]["body"]["messages"][0]["content"]
    prompt = second if isinstance(second, str) else json.dumps(second)
    assert "== Your role: engineering" in prompt
    assert "from step design" in prompt and "DESIGN: a /health route" in prompt
