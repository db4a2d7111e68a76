"""town/jsoncodec.py: the standard library's json where orjson's import would cost more than
it saves, with orjson's bytes, acceptance and errors (the store's files must not change)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from gastown_tui.town import jsoncodec
from gastown_tui.town.jsoncodec import BIG, dumps_pretty, small_dumps, small_loads

CHARS = 'aZ09 "\\/\n\t\r\b\f\x00\x1f\x7f\x85\u2028\u202e é日本語✓🚀'


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return "".join(rng.choice(CHARS) for _ in range(rng.randrange(12)))
    if kind == 1:
        return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), 2**64 - 1, 10**15, rng.randrange(10**9)])
    if kind == 2:
        return rng.choice([0.5, -2.25, 1e-7, 3.0, 1e300, 0.1])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return ""
    if kind == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        "".join(rng.choice(CHARS) for _ in range(rng.randrange(6))): _value(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return isinstance(value, list) and any(_has_float(v) for v in value)


def test_the_standard_library_writes_and_reads_what_orjson_does() -> None:
    rng = random.Random(12)
    for _ in range(3000):
        value = _value(rng)
        rendered = orjson.dumps(value)
        mine = small_dumps(value)
        if _has_float(value):  # 1e-07 against orjson's 1e-7: the same value
            assert orjson.loads(mine) == value
        else:
            assert mine == rendered, value
            assert dumps_pretty(value) == orjson.dumps(
                value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
            )
        assert small_loads(rendered) == orjson.loads(rendered)
        assert small_loads(mine) == orjson.loads(rendered)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b'{"a":1',
        b"NaN",
        b'{"a":Infinity}',
        b'"\\ud800"',
        b"\xef\xbb\xbf{}",
        b"\xff\xfe",
        b'"\xc3"',
        b"[" * 2000 + b"]" * 2000,
        b"{} x",
    ],
)
def test_what_orjson_refuses_is_refused_with_its_error(raw: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)
    with pytest.raises(orjson.JSONDecodeError):
        small_loads(raw)


def test_what_only_orjson_reads_is_read_as_orjson_reads_it() -> None:
    for raw in (b"1" + b"0" * 25, b'"\\ud83d\\ude80"', b'{"a":"\\u00e9"}'):
        assert small_loads(raw) == orjson.loads(raw)


def test_what_orjson_refuses_to_write_is_refused_with_its_error() -> None:
    for value in ("\ud800", {"a": ["\udfff"]}, object()):
        with pytest.raises(orjson.JSONEncodeError):
            orjson.dumps(value)
        with pytest.raises(orjson.JSONEncodeError):
            small_dumps(value)
    assert small_dumps(float("nan")) == orjson.dumps(float("nan")) == b"null"


def test_big_documents_go_to_orjson() -> None:
    big = {"x": "y" * BIG}
    assert jsoncodec.dumps(big, size_hint=BIG) == orjson.dumps(big)
    assert jsoncodec.loads(orjson.dumps(big)) == big
    assert jsoncodec.loader_for(BIG) is orjson.loads
