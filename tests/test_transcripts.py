"""Token usage from the agent programs' own transcripts (town/transcripts.py), on transcripts
the real Claude Code, Codex and Gemini CLI wrote in the harness (tests/data/transcripts/,
saved by tests/test_real_*.py with GT_SAVE_TRANSCRIPTS=1; the scripted servers report fixed
token counts per response, tests/model_servers.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gastown_tui.dispatch.tmuxfor import tmux_for
from gastown_tui.supervise.deacon import Deacon
from gastown_tui.town import transcripts
from gastown_tui.town.errors import GtError
from gastown_tui.town.town import Town
from gastown_tui.town.usage import require_budget, totals
from tests.conftest import GtRunner
from tests.polecat_fixtures import hook_without_window

pytest_plugins = ["tests.polecat_fixtures"]

SAMPLES = Path(__file__).parent / "data" / "transcripts"
# program -> (responses in the sample, per response: input not cached, output, cache read,
# cache write), as the scripted servers answered.
EXPECTED = {
    "claude": (4, 1200, 40, 300, 50),
    "codex": (5, 1000, 30, 500, 0),
    "gemini": (4, 2000, 25, 0, 0),
}


# One more response of each program, as its transcript writes it.
FRESH = {
    "claude": {"type": "assistant", "cwd": "WORKTREE", "message": {"id": "msg_fresh",
               "model": "claude-opus-4-8", "usage": {"input_tokens": 7, "output_tokens": 1}}},
    "codex": {"type": "token_usage_record", "payload": {"response_id": "resp_fresh",
              "usage": {"input_tokens": 7, "output_tokens": 1}}},
    "gemini": {"type": "gemini", "id": "fresh", "model": "gemini-3.1-pro-preview",
               "tokens": {"input": 7, "output": 1}},
}  # fmt: skip


def sample(program: str) -> Path:
    (path,) = sorted((SAMPLES / program).glob("*.jsonl"))
    return path


def sample_cwd(program: str) -> str:
    text = sample(program).read_text()
    found = re.search(r"(/tmp/[^\"\\]*?/town/rigs/alpha/polecats/furiosa)", text)
    assert found, "the sample names its worktree"
    return found.group(1)


@pytest.mark.parametrize("program", sorted(EXPECTED))
def test_each_response_of_a_real_transcript_is_counted_once(program: str) -> None:
    lines = sample(program).read_bytes().split(b"\n")
    ctx = {"cwd": sample_cwd(program)}
    found = list(transcripts.PARSERS[program](lines, ctx))
    unique = {u.key: u for u in found}
    count, tokens_in, tokens_out, cache_read, cache_write = EXPECTED[program]
    assert len(unique) == count
    for usage in unique.values():
        assert (usage.input_tokens, usage.output_tokens) == (tokens_in, tokens_out)
        assert usage.cache_read_input_tokens == cache_read
        assert usage.cache_creation_input_tokens == cache_write
        assert usage.model and usage.cwd.endswith("/polecats/furiosa")


def place(program: str, home: Path, worktree: str) -> Path:
    """The sample where the program would have written it for `worktree` under `home`."""
    text = sample(program).read_text().replace(sample_cwd(program), worktree)
    if program == "claude":
        folder = transcripts.claude_project_dir(home, worktree)
    elif program == "codex":
        folder = home / ".codex" / "sessions" / "2026" / "12" / "06"
    else:
        folder = home / ".gemini" / "tmp" / "furiosa" / "chats"
        projects = {"projects": {worktree: "furiosa"}}
        (home / ".gemini").mkdir(parents=True, exist_ok=True)
        (home / ".gemini" / "projects.json").write_text(json.dumps(projects))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / sample(program).name
    target.write_text(text)
    return target


@pytest.fixture
def worked(rig_town: Town, tmp_path: Path) -> tuple[Town, str, str, Path]:
    """A polecat with a worktree and a hooked bead; HOME for the programs in [town.env]."""
    bead = rig_town.beads.create("Count my tokens", rig="alpha")
    address = hook_without_window(rig_town, bead.id)
    home = tmp_path / "agent-home"
    home.mkdir()
    with open(rig_town.paths.town_toml, "a") as handle:
        handle.write(f'\n[town.env]\nHOME = "{home}"\n')
    rig_town.__dict__.pop("config", None)
    return rig_town, address, bead.id, home


@pytest.mark.parametrize("program", sorted(EXPECTED))
def test_collect_attributes_to_agent_bead_and_reads_only_what_is_new(
    program: str, worked: tuple[Town, str, str, Path]
) -> None:
    town, address, bead, home = worked
    worktree = town.polecats.get(address).worktree or ""
    path = place(program, home, worktree)
    count, tokens_in, tokens_out, _, _ = EXPECTED[program]
    records = transcripts.collect(town)
    assert len(records) == count
    assert {(r["agent"], r["bead"]) for r in records} == {(address, bead)}
    by_bead = totals(town, by="bead")["by"][bead]
    assert by_bead["input_tokens"] == count * tokens_in
    assert by_bead["output_tokens"] == count * tokens_out
    assert transcripts.collect(town) == [], "offsets remembered: nothing counted twice"

    # A response being written (half a line) waits for its end; then it counts once.
    fresh = json.dumps(FRESH[program]).replace("WORKTREE", worktree).encode()
    with open(path, "ab") as handle:
        handle.write(fresh[:20])
    assert transcripts.collect(town) == []
    with open(path, "ab") as handle:
        handle.write(fresh[20:] + b"\n")
    assert len(transcripts.collect(town)) == 1


def test_gt_usage_and_the_budget_breaker_read_the_transcripts(
    worked: tuple[Town, str, str, Path], gt: GtRunner
) -> None:
    town, address, _, home = worked
    place("claude", home, town.polecats.get(address).worktree or "")
    out = gt("usage", "--by", "agent", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["by"][address]["input_tokens"] == 4 * 1200
    assert data["usd"] > 0, "priced by its model (claude-opus-…)"
    toml = town.paths.town_toml
    toml.write_text(
        re.sub(r"(?m)^max_tokens = 0\b", "max_tokens = 1000", toml.read_text(), count=1)
    )
    town.__dict__.pop("config", None)
    with pytest.raises(GtError, match="over budget"):
        require_budget(town)


def test_the_deacon_counts_running_programs_tokens_when_a_budget_is_set(
    worked: tuple[Town, str, str, Path],
) -> None:
    town, address, _, home = worked
    toml = town.paths.town_toml
    toml.write_text(
        re.sub(r"(?m)^max_tokens = 0\b", "max_tokens = 1000", toml.read_text(), count=1)
    )
    town.__dict__.pop("config", None)
    deacon = Deacon(town, tmux_for(town))
    assert not any("over budget" in a for a in deacon.patrol())
    place("gemini", home, town.polecats.get(address).worktree or "")
    assert any("over budget" in a for a in deacon.patrol()), "told once"
    assert not any("over budget" in a for a in deacon.patrol())
    assert totals(town)["calls"] == 4


def test_another_projects_codex_session_is_never_read(
    worked: tuple[Town, str, str, Path],
) -> None:
    town, _, _, home = worked
    path = place("codex", home, "/somewhere/else")
    assert transcripts.collect(town) == []
    state = json.loads((town.paths.runtime / transcripts.STATE_FILE).read_text())
    assert state["files"][str(path)] == {"foreign": True}
