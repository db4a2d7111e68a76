"""Token and cost accounting, and the budget circuit breaker.

Agents that report usage (the built-in runtime does, after every model response) append one
JSON line to `<town>/usage.jsonl`: who (agent, rig), for what (bead, convoy), which model, and
the tokens. Totals are derived by reading that file; nothing is stored twice.

The budget is plain code, not an agent's judgement (a Gas Town user watched a patrol agent
drain a $20 plan in under three hours): over `[budget] max_tokens` or `max_usd`, new dispatch
is refused and built-in agents pause before their next model call until the budget is raised.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gastown_tui.town import jsoncodec
from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.storage.files import flocked

if TYPE_CHECKING:
    from pathlib import Path

    from gastown_tui.town.town import Town

# US dollars per million tokens (input, output), matched by model name prefix. Cache writes
# cost 1.25x input and cache reads 0.1x input. Override or extend in town.toml:
# [budget.prices] "claude-sonnet-4" = [3.0, 15.0]
# The longest matching prefix wins.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "claude-opus": (5.0, 25.0),
    "claude-opus-4-0": (15.0, 75.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-2": (15.0, 75.0),
    "claude-sonnet": (3.0, 15.0),
    "claude-haiku": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    # Codex and Gemini CLI models (their transcripts are read by town/transcripts.py); others
    # fall back to FALLBACK_PRICE: set [budget.prices] for them.
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gemini-2.5-pro": (1.25, 10.0),
    "gemini-2.5-flash": (0.30, 2.50),
}
FALLBACK_PRICE = (3.0, 15.0)


def usage_path(town: Town) -> Path:
    return town.root / "usage.jsonl"


def prices(town: Town) -> dict[str, tuple[float, float]]:
    table = dict(DEFAULT_PRICES)
    table.update(town.config.budget.prices)  # checked when town.toml is loaded
    return table


def cost(record: dict[str, Any], table: dict[str, tuple[float, float]]) -> float:
    model = str(record.get("model") or "")
    match = max((p for p in table if model.startswith(p)), key=len, default=None)
    per_in, per_out = table[match] if match else FALLBACK_PRICE
    tokens_in = int(record.get("input_tokens") or 0)
    tokens_out = int(record.get("output_tokens") or 0)
    cache_write = int(record.get("cache_creation_input_tokens") or 0)
    cache_read = int(record.get("cache_read_input_tokens") or 0)
    dollars = tokens_in * per_in + tokens_out * per_out
    dollars += cache_write * per_in * 1.25 + cache_read * per_in * 0.1
    return dollars / 1_000_000


def record_usage(
    town: Town,
    *,
    agent: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    bead: str | None = None,
    convoy: str | None = None,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
) -> dict[str, Any]:
    rig = agent.split("/", 1)[0] if "/" in agent else None
    record = {
        "ts": iso(town.clock.now()),
        "agent": agent,
        "rig": rig,
        "bead": bead,
        "convoy": convoy,
        "model": model,
        "input_tokens": int(input_tokens),
        "output_tokens": int(output_tokens),
        "cache_creation_input_tokens": int(cache_creation_input_tokens),
        "cache_read_input_tokens": int(cache_read_input_tokens),
    }
    path = usage_path(town)
    with flocked(town.paths.lock("usage")):
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, jsoncodec.dumps(record) + b"\n")
        finally:
            os.close(fd)
    return record


def iter_usage(town: Town) -> Iterator[dict[str, Any]]:
    try:
        handle = open(usage_path(town), "rb")
    except FileNotFoundError:
        return
    with handle:
        loads = jsoncodec.loader_for(os.fstat(handle.fileno()).st_size)
        for line in handle:
            try:
                record = loads(line)
            except ValueError:
                continue  # a line torn by a killed writer
            if isinstance(record, dict):
                yield record


def totals(town: Town, by: str | None = None) -> dict[str, Any]:
    """{"tokens", "input_tokens", "output_tokens", "usd", "calls", "by": {key: {...}}}."""
    table = prices(town)
    overall = {"input_tokens": 0, "output_tokens": 0, "tokens": 0, "usd": 0.0, "calls": 0}
    groups: dict[str, dict[str, Any]] = {}
    for record in iter_usage(town):
        dollars = cost(record, table)
        tokens_in = int(record.get("input_tokens") or 0)
        tokens_out = int(record.get("output_tokens") or 0)
        targets = [overall]
        if by:
            key = str(record.get(by) or "-")
            targets.append(
                groups.setdefault(
                    key,
                    {"input_tokens": 0, "output_tokens": 0, "tokens": 0, "usd": 0.0, "calls": 0},
                )
            )
        for target in targets:
            target["input_tokens"] += tokens_in
            target["output_tokens"] += tokens_out
            target["tokens"] += tokens_in + tokens_out
            target["usd"] += dollars
            target["calls"] += 1
    overall["usd"] = round(overall["usd"], 6)
    for group in groups.values():
        group["usd"] = round(group["usd"], 6)
    return {**overall, "by": groups} if by else overall


def budget_state(town: Town) -> dict[str, Any]:
    """{"tokens", "usd", "max_tokens", "max_usd", "over": bool, "reason": str}."""
    budget = town.config.budget
    max_tokens, max_usd = budget.max_tokens, budget.max_usd
    spent = totals(town) if (max_tokens or max_usd) else {"tokens": 0, "usd": 0.0}
    reason = ""
    if max_tokens and spent["tokens"] >= max_tokens:
        reason = f"{spent['tokens']:,} tokens used of a {max_tokens:,} token budget"
    elif max_usd and spent["usd"] >= max_usd:
        reason = f"${spent['usd']:.2f} spent of a ${max_usd:.2f} budget"
    return {
        "tokens": spent["tokens"],
        "usd": round(float(spent["usd"]), 6),
        "max_tokens": max_tokens,
        "max_usd": max_usd,
        "over": bool(reason),
        "reason": reason,
    }


def collect_transcripts(town: Town) -> None:
    """Bring the agent programs' own token counts (town/transcripts.py) into usage.jsonl.
    Only when there is a budget or someone asks: it reads files."""
    from gastown_tui.town.transcripts import collect

    try:
        collect(town)
    except OSError:
        pass  # accounting never blocks work; the next call reads on from the same offsets


def require_budget(town: Town) -> None:
    """Refuse new dispatch when the town is over budget (GtError, nothing written)."""
    budget = town.config.budget
    if budget.max_tokens or budget.max_usd:
        collect_transcripts(town)
    state = budget_state(town)
    if state["over"]:
        raise GtError(
            f"over budget: {state['reason']}; new work is not dispatched",
            hint="raise [budget] max_tokens / max_usd in town.toml (0 = no limit)",
        )
