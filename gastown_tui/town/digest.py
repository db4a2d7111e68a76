"""Hex digests without OpenSSL: CPython's own sha1/sha256 give the same digests as hashlib's,
but `import hashlib` maps libcrypto (~4 MB resident) into every long-running process that
only fingerprints pane text or notice keys (`gt daemon`, the observer; issue 12: the town's
own memory). hashlib stays the fallback where CPython was built without them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_sha1: Callable[[bytes], Any] | None = None
_sha256: Callable[[bytes], Any] | None = None


def sha1_hex(data: bytes) -> str:
    global _sha1
    if _sha1 is None:
        try:
            from _sha1 import sha1
        except ImportError:
            from hashlib import sha1
        _sha1 = sha1
    return str(_sha1(data).hexdigest())


def sha256_hex(data: bytes) -> str:
    global _sha256
    if _sha256 is None:
        try:
            from _sha256 import sha256  # CPython 3.11
        except ImportError:
            try:
                from _sha2 import sha256  # type: ignore[import-not-found,no-redef]  # 3.12+
            except ImportError:
                from hashlib import sha256  # type: ignore[assignment]
        _sha256 = sha256
    return str(_sha256(data).hexdigest())
