"""What the benchmark scripts share: percentiles, timing whole processes, compiled bytecode."""

from __future__ import annotations

import compileall
import math
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], q: float) -> float:
    """The q-th quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_process(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    """Wall milliseconds of `runs` whole processes (start-up and imports included)."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        out.append((time.perf_counter() - start) * 1000)
    return out


def compile_package() -> None:
    """Byte-compile the package first, as pip does at install: CLI timings then measure our
    code, not the compiler (this environment may set PYTHONDONTWRITEBYTECODE)."""
    compileall.compile_dir(str(ROOT / "gastown_tui"), quiet=1)
