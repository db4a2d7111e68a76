"""JSON for the store, the event log and `--json` output: the standard library's `json` for
the small documents an agent's `gt` call reads and writes, orjson for big ones.

Measured here (bench/bench_cli.py, `python -X importtime`): importing orjson costs 2-3 ms even
when `dataclasses` is loaded already (it imports uuid and platform), and about 9 ms on paths
that do not need dataclasses otherwise (`gt bead create`), a sixth of the whole call; `json`
is about 1 ms on top of `re`. Parsing, json takes ~6 ms per MB and writing ~7 ms per MB, orjson
under 2: past `BIG` bytes (a 5,000-message inbox is ~2-5 MB) orjson pays for its import. A
process that has imported orjson already (the app, the daemon) uses it for everything.

Both render what the store holds (str keys; str, int, bool, None, list and dict values) to the
same compact UTF-8 bytes (town/mail.py's splice relies on that for ids); a float to the same
value, in places in another exponent notation (1e-07 against orjson's 1e-7). What json would
refuse or read differently from orjson (NaN, lone surrogates, a BOM, integers past 64 bits, odd
types) is redone by orjson, so what is accepted and the errors raised (orjson.JSONDecodeError,
a ValueError; orjson.JSONEncodeError, a TypeError) are orjson's, as before. Two differences
are left, as nothing the town stores has them: json writes an integer past 64 bits (orjson
refused it; both read it back as a float) and turns non-str keys into strings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from typing import Any

BIG = 256 * 1024  # bytes: at or past this, orjson
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # orjson's range


class _Refused(ValueError):
    """Something json takes and orjson does not: orjson decides (and raises)."""


def _orjson() -> Any:
    import orjson

    return orjson


def _refuse(_: str) -> Any:
    raise _Refused


def _int(text: str) -> int:
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise _Refused
    return value


def loads(raw: bytes) -> Any:
    """Parse JSON bytes. Invalid JSON raises orjson.JSONDecodeError (a ValueError)."""
    if len(raw) >= BIG or "orjson" in sys.modules:
        return _orjson().loads(raw)
    return small_loads(raw)


def small_loads(raw: bytes) -> Any:
    """`loads` by the standard library, as orjson would parse (tests/test_jsoncodec.py)."""
    if b"\\u" in raw:  # a \ud800 escape: orjson checks surrogates itself
        return _orjson().loads(raw)
    import json

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse, parse_int=_int)
    except (ValueError, RecursionError):  # UnicodeDecodeError, a BOM, NaN, too deep...
        return _orjson().loads(raw)  # raises orjson's error (or parses what json would not)


def loader_for(total_size: int) -> Callable[[bytes], Any]:
    """`loads` for the many small documents (JSON lines) of a file of `total_size` bytes:
    orjson's when the file is big enough to pay for importing it."""
    return _orjson().loads if total_size >= BIG or "orjson" in sys.modules else loads


def dumps(value: Any, *, size_hint: int = 0) -> bytes:
    """Compact UTF-8 JSON. `size_hint`: the expected size (a file's), to pick orjson for big
    ones without rendering twice. What orjson refuses raises orjson.JSONEncodeError."""
    if size_hint >= BIG or "orjson" in sys.modules:
        return _orjson().dumps(value)
    return small_dumps(value)


def small_dumps(value: Any) -> bytes:
    """`dumps` by the standard library, the same bytes as orjson (tests/test_jsoncodec.py)."""
    import json

    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # odd types, NaN, lone surrogates, depth
        return _orjson().dumps(value)


def dumps_pretty(value: Any) -> bytes:
    """Indented JSON for people (`--json`), non-str keys as strings."""
    if "orjson" in sys.modules:  # a big store was read: the output may be big too
        orjson = _orjson()
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    import json

    try:
        return json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        orjson = _orjson()
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
