"""Token usage from the agent programs' own transcripts, into the town's usage.jsonl.

Claude Code, Codex and Gemini CLI each log every model response with its token counts:

- Claude Code: `$HOME/.claude/projects/<cwd, non-alphanumerics as '-'>/<session>.jsonl`, one
  JSON object a line; `type: "assistant"` lines carry `message.{id, model, usage}` (one line per
  content block, the same message id and usage repeated: counted once).
- Codex: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl` (CODEX_HOME defaults to
  `$HOME/.codex`); `session_meta` gives the cwd, `turn_context` the model and every
  `token_usage_record` one response's `usage` (input_tokens includes cached_input_tokens).
- Gemini CLI: `$HOME/.gemini/tmp/<project>/chats/session-*.jsonl`, the project folder named in
  `$HOME/.gemini/projects.json`; `type: "gemini"` lines carry `tokens` and `model` (a message
  may be written again as it grows: counted once by its id).

`collect(town)` reads what was appended since the last call (byte offsets are kept in
`.runtime/transcripts.json`), attributes each response to the polecat whose worktree the
program ran in, its hooked bead and that bead's convoy, and appends usage records
(town/usage.py record_usage) that `gt usage` and the budget breaker read. Only the folders of
this town's worktrees are read, never a person's other projects.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown_tui.town import jsoncodec
from gastown_tui.town.storage.files import atomic_write_bytes, flocked

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

STATE_FILE = "transcripts.json"
SEEN_KEEP = 200  # ids remembered per file: a message repeated across two collections


@dataclass
class Usage:
    """One model response's tokens, as the program logged them."""

    program: str
    key: str  # unique within its file: message / response id
    cwd: str
    model: str
    input_tokens: int = 0  # not cached
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


def claude_project_dir(home: Path, cwd: str) -> Path:
    return home / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


# -- parsers: (lines, per-file context) -> usages ------------------------------------------------
def parse_claude(lines: list[bytes], ctx: dict[str, Any]) -> Iterator[Usage]:
    for line in lines:
        entry = _loads(line)
        if entry.get("type") != "assistant":
            continue
        message = entry.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
            continue
        model = str(message.get("model") or "")
        if model == "<synthetic>":  # Claude Code's own notices, not a model response
            continue
        usage = message["usage"]
        key = str(message.get("id") or entry.get("uuid") or "")
        yield Usage(
            "claude",
            key,
            str(entry.get("cwd") or ctx.get("cwd") or ""),
            model,
            input_tokens=_int(usage.get("input_tokens")),
            output_tokens=_int(usage.get("output_tokens")),
            cache_creation_input_tokens=_int(usage.get("cache_creation_input_tokens")),
            cache_read_input_tokens=_int(usage.get("cache_read_input_tokens")),
        )


def parse_codex(lines: list[bytes], ctx: dict[str, Any]) -> Iterator[Usage]:
    for line in lines:
        entry = _loads(line)
        payload = entry.get("payload")
        if not isinstance(payload, dict):
            continue
        kind = entry.get("type")
        if kind == "session_meta":
            ctx["cwd"] = str(payload.get("cwd") or "")
        elif kind == "turn_context":
            ctx["model"] = str(payload.get("model") or ctx.get("model") or "")
            ctx["cwd"] = str(payload.get("cwd") or ctx.get("cwd") or "")
        elif kind == "token_usage_record" and isinstance(payload.get("usage"), dict):
            usage = payload["usage"]
            cached = _int(usage.get("cached_input_tokens"))
            key = str(payload.get("response_id") or entry.get("ordinal") or "")
            yield Usage(
                "codex",
                key,
                str(ctx.get("cwd") or ""),
                str(ctx.get("model") or ""),
                input_tokens=max(_int(usage.get("input_tokens")) - cached, 0),
                output_tokens=_int(usage.get("output_tokens")),
                cache_creation_input_tokens=_int(usage.get("cache_write_input_tokens")),
                cache_read_input_tokens=cached,
            )


def parse_gemini(lines: list[bytes], ctx: dict[str, Any]) -> Iterator[Usage]:
    for line in lines:
        entry = _loads(line)
        tokens = entry.get("tokens")
        if entry.get("type") != "gemini" or not isinstance(tokens, dict):
            continue
        cached = _int(tokens.get("cached"))
        yield Usage(
            "gemini",
            str(entry.get("id") or ""),
            str(ctx.get("cwd") or ""),
            str(entry.get("model") or ""),
            input_tokens=max(_int(tokens.get("input")) - cached, 0),
            # Thinking tokens are billed as output.
            output_tokens=_int(tokens.get("output")) + _int(tokens.get("thoughts")),
            cache_read_input_tokens=cached,
        )


PARSERS = {"claude": parse_claude, "codex": parse_codex, "gemini": parse_gemini}


def _loads(line: bytes, small: bool = False) -> dict[str, Any]:
    """A JSON object, or {}. Transcript lines: orjson (imported here: most `gt done` calls
    read no transcript); `small` files of our own: town/jsoncodec.py."""
    try:
        if small:
            value = jsoncodec.loads(line)
        else:
            import orjson

            value = orjson.loads(line)
    except ValueError:  # orjson.JSONDecodeError is one
        return {}
    return value if isinstance(value, dict) else {}


# -- where the files are -------------------------------------------------------------------------
def transcript_files(home: Path, worktrees: list[str], codex_home: Path | None = None
                     ) -> Iterator[tuple[str, Path, dict[str, Any]]]:  # fmt: skip
    """(program, file, context) for every transcript of a program run in one of `worktrees`."""
    wanted = set(worktrees)
    for cwd in worktrees:
        folder = claude_project_dir(home, cwd)
        if folder.is_dir():
            for path in sorted(folder.glob("*.jsonl")):
                yield "claude", path, {"cwd": cwd}
    codex = codex_home or home / ".codex"
    sessions = codex / "sessions"
    if sessions.is_dir():
        for path in sorted(sessions.rglob("rollout-*.jsonl")):
            yield "codex", path, {}  # its cwd is in its first line
    projects = _loads(_read(home / ".gemini" / "projects.json"), small=True)
    names = projects.get("projects") if isinstance(projects.get("projects"), dict) else {}
    for cwd, name in (names or {}).items():
        if cwd in wanted and isinstance(name, str):
            chats = home / ".gemini" / "tmp" / name / "chats"
            if chats.is_dir():
                for path in sorted(chats.glob("session-*.jsonl")):
                    yield "gemini", path, {"cwd": cwd}


def _codex_cwd(path: Path) -> str:
    """The cwd in a Codex session's first line (session_meta), without reading the rest."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(1_000_000)
    except OSError:
        return ""
    payload = _loads(first).get("payload")
    return str(payload.get("cwd") or "") if isinstance(payload, dict) else ""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b"{}"


def read_new(path: Path, state: dict[str, Any], program: str, ctx: dict[str, Any]
             ) -> list[Usage]:  # fmt: skip
    """The responses appended to `path` since the offset in `state` (complete lines only)."""
    offset = int(state.get("offset") or 0)
    try:
        size = path.stat().st_size
    except OSError:
        return []
    if size < offset:  # rewritten from scratch: read it again, the seen ids keep it honest
        offset = 0
    if size == offset:
        return []
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(size - offset)
    end = data.rfind(b"\n")
    if end < 0:
        return []
    context = {**ctx, **(state.get("ctx") or {})}
    seen = list(state.get("seen") or [])
    out: list[Usage] = []
    for usage in PARSERS[program](data[: end + 1].split(b"\n"), context):
        if usage.key and usage.key in seen:
            continue
        seen.append(usage.key)
        out.append(usage)
    state["offset"] = offset + end + 1
    state["ctx"] = {k: v for k, v in context.items() if k in ("cwd", "model")}
    state["seen"] = seen[-SEEN_KEEP:]
    return out


# -- the town side -------------------------------------------------------------------------------
def program_homes(town: Town) -> list[tuple[Path, Path | None]]:
    """(HOME, CODEX_HOME) pairs the town's agents may run with: the variables town.toml gives
    windows (`[town.env]`, `[runtimes.NAME.env]`), and this process's own."""
    pairs: list[tuple[Path, Path | None]] = []
    tables: list[dict[str, Any]] = []
    town_env = town.config.town_env()
    if town_env:
        tables.append(town_env)
    for table in town.config.runtimes.values():
        if isinstance(table, dict) and isinstance(table.get("env"), dict):
            tables.append({**(town_env or {}), **table["env"]})
    tables.append(dict(os.environ))
    for env in tables:
        home = env.get("HOME")
        if not home:
            continue
        codex = env.get("CODEX_HOME")
        pair = (Path(str(home)), Path(str(codex)) if codex else None)
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def collect(town: Town) -> list[dict[str, Any]]:
    """Append the usage of every response logged since the last call; return the records.
    Called by `gt usage`, `gt done` (before the bead leaves the hook), the dispatch budget
    check (town/usage.py require_budget) and, with a budget set, every deacon patrol."""
    from gastown_tui.town.usage import record_usage

    polecats = {p.worktree: p for p in town.polecats.list() if p.worktree}
    if not polecats:
        return []
    worktrees = sorted(str(w) for w in polecats)
    records: list[dict[str, Any]] = []
    state_path = town.paths.runtime / STATE_FILE
    with flocked(town.paths.lock("transcripts")):
        state = _loads(_read(state_path), small=True) if state_path.exists() else {}
        files = state.setdefault("files", {})
        last_bead = state.setdefault("last_bead", {})
        for home, codex_home in program_homes(town):
            for program, path, ctx in transcript_files(home, worktrees, codex_home):
                entry = files.setdefault(str(path), {})
                if program == "codex" and "ctx" not in entry:
                    cwd = _codex_cwd(path)
                    if cwd not in polecats:
                        entry["foreign"] = True  # another project's session: never read
                if entry.get("foreign"):
                    continue
                for usage in read_new(path, entry, program, ctx):
                    polecat = polecats.get(usage.cwd)
                    if polecat is None:
                        continue
                    hooked = town.polecats.hooked(polecat.address)
                    # The response after `gt done` is logged once the bead left the hook:
                    # it belongs to the bead this worktree worked on last.
                    bead_id = hooked.id if hooked else last_bead.get(usage.cwd)
                    if bead_id:
                        last_bead[usage.cwd] = bead_id
                    convoy = None
                    if bead_id:
                        convoys = town.convoys.convoys_of(bead_id)
                        convoy = convoys[0].id if convoys else None
                    records.append(
                        record_usage(
                            town,
                            agent=polecat.address,
                            model=usage.model or program,
                            input_tokens=usage.input_tokens,
                            output_tokens=usage.output_tokens,
                            cache_creation_input_tokens=usage.cache_creation_input_tokens,
                            cache_read_input_tokens=usage.cache_read_input_tokens,
                            bead=bead_id,
                            convoy=convoy,
                        )
                    )
        atomic_write_bytes(state_path, jsoncodec.dumps(state))
    return records
