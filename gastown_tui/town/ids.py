"""Bead ids: `<prefix>-<5 base36 chars>`. The town-wide index of every id issued is a
repository of the storage backend (storage/id_index.py for the files backend)."""

from __future__ import annotations

import os

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 5


def random_suffix(length: int = ID_LENGTH) -> str:
    # os.urandom rather than `secrets`: same source, and it keeps `import random` (3 ms) off
    # the CLI path. Rejection sampling keeps the 36 letters equally likely.
    out: list[str] = []
    while len(out) < length:
        for byte in os.urandom(length * 2):
            if byte < 252:  # 252 = 7 * 36
                out.append(ALPHABET[byte % 36])
                if len(out) == length:
                    break
    return "".join(out)
