"""A town's storage: the Backend protocol and its registry (see base.py).

A new backend is one class providing `base.Backend` that passes tests/conformance/, plus
one line in BACKENDS. The class is imported on first use, so CLI start-up pays only for the
backend it opens.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from gastown_tui.town.storage.changed import Changed

TYPE_CHECKING = False  # base.py's protocols are ~2 ms to build: annotations only here
if TYPE_CHECKING:
    from gastown_tui.town.storage.base import Backend

# name -> "module:Class"
BACKENDS: dict[str, str] = {
    "files": "gastown_tui.town.storage.file_backend:FileBackend",
}
DEFAULT_BACKEND = "files"
# Which backend a town process opens when none is named (the conformance suite's child
# processes use it). Unset: the files backend, the only one a town has today.
BACKEND_ENV = "GT_STORE_BACKEND"


def __getattr__(name: str) -> object:
    if name == "Backend":  # for run-time users of `storage.Backend`; annotations import it above
        from gastown_tui.town.storage.base import Backend

        return Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def backend_class(name: str | None = None) -> type[Backend]:
    from gastown_tui.town.errors import GtError

    name = name or os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND
    spec = BACKENDS.get(name)
    if spec is None:
        raise GtError(
            f"unknown storage backend {name!r}", hint="one of: " + ", ".join(sorted(BACKENDS))
        )
    module, _, cls = spec.partition(":")
    return getattr(importlib.import_module(module), cls)


def open_backend(root: Path, name: str | None = None) -> Backend:
    """The storage of the town at `root`."""
    return backend_class(name)(root)


__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "DEFAULT_BACKEND",
    "Backend",
    "Changed",
    "backend_class",
    "open_backend",
]
