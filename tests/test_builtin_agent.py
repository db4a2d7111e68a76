"""The built-in agent against a real Messages API server on 127.0.0.1 (tests/fake_anthropic)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from gastown_tui.runtimes import builtin_agent
from gastown_tui.town.errors import GtError
from gastown_tui.town.town import Town
from gastown_tui.town.usage import budget_state, record_usage, require_budget, totals
from tests.fake_anthropic import Reply, serve, text, tool_use
from tests.polecat_fixtures import git_out, hook_without_window

pytest_plugins = ["tests.polecat_fixtures"]


@pytest.fixture
def agent(rig_town: Town, monkeypatch: pytest.MonkeyPatch) -> tuple[Town, str, str]:
    """A polecat with a worktree and a hooked bead, and the env of its window."""
    bead = rig_town.beads.create("Write a greeting", rig="alpha", description="say hello")
    address = hook_without_window(rig_town, bead.id)
    monkeypatch.setenv("GT_TOWN", str(rig_town.root))
    monkeypatch.setenv("GT_AGENT", address)
    monkeypatch.setenv("GT_RIG", "alpha")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-key")
    return rig_town, address, bead.id


def run_agent(url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    return builtin_agent.main([])


def test_the_agent_works_the_hook_with_tools_and_records_usage(
    agent: tuple[Town, str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    town, address, bead_id = agent
    script = [
        Reply([text("I'll write it."), tool_use("write_file",
              {"path": "hello.txt", "content": "hello\n"}, "tu_1")], "tool_use", 300, 40),
        Reply([tool_use("run_command", {"command": "cat hello.txt"}, "tu_2")], "tool_use", 350, 20),
        Reply([tool_use("gt_done", {"note": "greeting written"}, "tu_3")], "tool_use", 400, 10),
    ]  # fmt: skip
    with serve(script) as fake:
        assert run_agent(fake.url, monkeypatch) == 0
    bead = town.beads.get(bead_id)
    assert bead.status == "closed" and bead.close_reason == "greeting written"
    worktree = Path(town.polecats.get(address).worktree)
    assert git_out(worktree, "show", "HEAD:hello.txt") == "hello"
    # The model saw its tool results; the API key went in the request.
    second = fake.requests[1]["body"]["messages"]
    result = second[-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "tu_1"
    assert "wrote 6 characters" in result["content"]
    third = fake.requests[2]["body"]["messages"][-1]["content"][0]
    assert "hello" in third["content"] and "exit status 0" in third["content"]
    headers = {k.lower(): v for k, v in fake.requests[0]["headers"].items()}
    assert "sk-test-key" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert fake.requests[0]["body"]["stream"] is True
    assert "Write a greeting" in json.dumps(fake.requests[0]["body"]["messages"][0])
    usage = totals(town, by="bead")
    assert usage["input_tokens"] == 1050 and usage["output_tokens"] == 70
    assert usage["by"][bead_id]["calls"] == 3
    assert usage["by"][bead_id]["usd"] > 0
    assert "I'll write it." in capsys.readouterr().out


def test_rate_limits_are_retried_by_the_sdk(
    agent: tuple[Town, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    town, _, bead_id = agent
    script = [
        Reply(status=429, headers={"retry-after": "0"}),
        Reply([tool_use("gt_done", {}, "tu_1")], "tool_use"),
    ]
    with serve(script) as fake:
        assert run_agent(fake.url, monkeypatch) == 0
    assert len(fake.requests) == 2
    assert town.beads.get(bead_id).status == "closed"


@pytest.mark.parametrize(
    "broken",
    [
        Reply([text("half a thought that never " * 20)], cut_stream=True),
        Reply([text("finished?")], "end_turn", no_message_stop=True),
        Reply(status=400),
    ],
    ids=["stream-cut-mid-body", "no-message-stop", "bad-request"],
)
def test_a_broken_response_is_a_failure_not_a_success(
    agent: tuple[Town, str, str], monkeypatch: pytest.MonkeyPatch, broken: Reply
) -> None:
    town, _, bead_id = agent
    with serve([broken, broken, broken]) as fake:
        status = run_agent(fake.url, monkeypatch)
    assert status == builtin_agent.FAILED
    assert town.beads.get(bead_id).status == "hooked", "the hook is kept for the restart"
    assert totals(town)["calls"] == 0, "no usage is recorded for a failed call"


def test_the_agent_refuses_to_leave_its_worktree(tmp_path: Path) -> None:
    workspace = builtin_agent.Workspace(tmp_path / "wt", timeout=5)
    (tmp_path / "wt").mkdir()
    (tmp_path / "secret.txt").write_text("no")
    with pytest.raises(ValueError, match="outside the worktree"):
        workspace.read_file("../secret.txt")
    with pytest.raises(ValueError):
        workspace.write_file("/etc/passwd", "x")


def test_over_budget_the_agent_pauses_before_calling_the_model(
    agent: tuple[Town, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    town, address, _ = agent
    path = town.paths.town_toml
    path.write_text(path.read_text().replace("max_tokens = 0", "max_tokens = 500"))
    town = Town.open(town.root)
    record_usage(town, agent=address, model="claude-sonnet-4-6", input_tokens=450, output_tokens=60)
    assert budget_state(town)["over"]
    with pytest.raises(GtError, match="over budget"):
        require_budget(town)
    path.write_text(path.read_text().replace('budget_poll = "30s"', "budget_poll = 0.05"))
    with serve([Reply([tool_use("gt_done", {}, "tu_1")], "tool_use")]) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        outcome: list[int] = []
        thread = threading.Thread(target=lambda: outcome.append(builtin_agent.main([])))
        thread.start()
        time.sleep(0.6)
        assert fake.requests == [], "no model call while over budget"
        path.write_text(path.read_text().replace("max_tokens = 500", "max_tokens = 0"))
        thread.join(30)
    assert outcome == [0] and len(fake.requests) == 1


def test_gt_usage_reports_totals_by_agent(agent: tuple[Town, str, str], gt) -> None:
    town, address, bead_id = agent
    record_usage(
        town, agent=address, model="claude-haiku-4-5", input_tokens=1_000_000, output_tokens=0,
        bead=bead_id,
    )  # fmt: skip
    proc = gt("usage", "--by", "agent", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["tokens"] == 1_000_000
    assert report["by"][address]["usd"] == pytest.approx(1.0)
    assert report["budget"]["over"] is False


def test_slung_to_the_builtin_runtime_it_runs_in_its_own_window(
    rig_town: Town, tmux, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gastown_tui.dispatch.sling import sling
    from tests.polecat_fixtures import wait_until

    script = [
        Reply([tool_use("write_file", {"path": "NOTES.md", "content": "ok\n"}, "t1")], "tool_use"),
        Reply([tool_use("gt_done", {"note": "notes written"}, "t2")], "tool_use"),
    ]  # fmt: skip
    with serve(script) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-window-key")
        bead = rig_town.beads.create("Notes via the built-in agent", rig="alpha")
        result = sling(rig_town, tmux, bead.id, "alpha", runtime="builtin")
        wait_until(
            lambda: rig_town.beads.get(bead.id).status == "closed", timeout=60, what="closed"
        )
    assert len(fake.requests) == 2
    by_convoy = totals(rig_town, by="convoy")["by"]
    assert result.convoy in by_convoy, "usage is charged to the bead's convoy"
    worktree = Path(rig_town.polecats.get(result.address).worktree)
    assert git_out(worktree, "show", "HEAD:NOTES.md") == "ok"


def test_builtin_without_an_api_key_is_refused_before_anything_is_hooked(
    rig_town: Town, gt, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import snapshot_files

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    bead = rig_town.beads.create("Needs a key", rig="alpha")
    before = snapshot_files(rig_town.root)
    proc = gt("sling", bead.id, "alpha", "--agent", "builtin")
    assert proc.returncode == 2
    assert "ANTHROPIC_API_KEY" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot_files(rig_town.root) == before


def test_over_budget_no_new_work_is_slung(rig_town: Town, gt) -> None:
    from tests.conftest import snapshot_files

    path = rig_town.paths.town_toml
    path.write_text(path.read_text().replace("max_usd = 0.0", "max_usd = 0.5"))
    town = Town.open(rig_town.root)
    record_usage(town, agent="alpha/furiosa", model="claude-opus-4-1", input_tokens=40_000,
                 output_tokens=0)  # fmt: skip
    bead = town.beads.create("Too expensive", rig="alpha")
    before = snapshot_files(town.root)
    proc = gt("sling", bead.id, "alpha", "--agent", "demo")
    assert proc.returncode == 2 and "over budget" in proc.stderr
    assert snapshot_files(town.root) == before
    status = json.loads(gt("status", "--json").stdout)
    assert status["budget"]["over"] is True
