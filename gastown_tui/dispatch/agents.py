"""An agent's window: find it, read it (peek), put a person's terminal on it (attach), and the
environment and first prompt (beacon) it is started with."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.runtimes.presets import Runtime
from gastown_tui.tmux import AttachPlan, TownTmux, WindowInfo, attach_plan
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.paths import encode_address, session_for
from gastown_tui.town.polecats import split_address
from gastown_tui.town.work import polecat_identity

if TYPE_CHECKING:
    from gastown_tui.town.town import Town

MAX_PEEK_LINES = 10_000
# Copied into every agent window from the environment of the `gt` that starts it. A window
# never relies on the town's tmux server's environment, which is that of whoever started
# the server (perhaps an older shell without the API key): a listed name that is not set
# here is unset in the window. Add names with [town] pass_env or [runtimes.NAME] pass_env.
PASSTHROUGH_ENV = (
    "GT_DEMO_STEP",
    "GT_TMUX_CONF",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
)


def find_window(tmux: TownTmux, address: str) -> WindowInfo | None:
    """The agent's window (`gt-<rig>:<name>`), or None. No server running means none."""
    rig, name = split_address(address)
    if not tmux.available():
        return None
    return tmux.find_window(session_for(rig), name)


def require_window(town: Town, tmux: TownTmux, agent: str) -> tuple[str, WindowInfo]:
    """Resolve `agent` (GtError if unknown) and find its window (GtFailure if none)."""
    address = town.polecats.resolve(agent)
    tmux.require()
    info = find_window(tmux, address)
    if info is None:
        bead = town.polecats.hooked(address)
        hint = f"restart it with `gt sling --force {bead.id}`" if bead else "it is idle"
        raise GtFailure(f"{address} has no window", hint=hint)
    return address, info


def peek(town: Town, tmux: TownTmux, agent: str, lines: int = 40) -> str:
    """The last `lines` lines of the agent's pane (a dead pane's last words too)."""
    if lines < 1 or lines > MAX_PEEK_LINES:
        raise GtError(f"-n must be between 1 and {MAX_PEEK_LINES}")
    try:
        _, info = require_window(town, tmux, agent)
    except GtFailure:
        # The window is gone (closed by gc after a failed start or a crash loop): its last
        # screen was kept on disk (dispatch/sling/start.py save_last_output).
        saved = (
            town.paths.runtime
            / "last-output"
            / f"{encode_address(town.polecats.resolve(agent))}.txt"
        )
        if not saved.exists():
            raise
        kept = saved.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join([kept[0] + " (window closed; saved output)", *kept[1:][-lines:]])
    return tmux.capture(info.pane_id, lines=lines)


def screen_bottom(tmux: TownTmux, pane_id: str, lines: int = 15) -> str:
    """The last `lines` non-blank-trailing rows of the pane's *visible* screen: what the agent
    shows now. Scrollback is left out: a question answered and scrolled (or cleared) away
    must not still count as waiting."""
    rows = list(tmux.snapshot(pane_id).screen)
    while rows and not rows[-1].strip():
        rows.pop()
    return "\n".join(rows[-lines:])


def attach_for(
    town: Town, tmux: TownTmux, agent: str, environ: dict[str, str] | None = None
) -> AttachPlan:
    _, info = require_window(town, tmux, agent)
    return attach_plan(tmux, info, os.environ if environ is None else environ)


def beacon(address: str, bead_id: str, actor: str, now: float | None = None) -> str:
    """The first prompt: who you are, who sent you, what is on your hook, what to do."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(now if now is not None else time.time()))
    return (
        f"[GAS TOWN] {address} <- {actor} • {stamp} • assigned {bead_id}. "
        "Run gt prime and begin work on your hook."
    )


# The `gt` the town's agents run: the installed one is pip's console-scripts wrapper, which
# imports `re` (~6 ms, a fifth of an agent's call through the command server, cmdserver.py).
# Its interpreter starts with `-S`: the town's command server runs most calls (cmdwire.py), and
# loading `site` first (~2.5 ms) is only needed when it does not.
AGENT_GT = """\
# Written by the town for its agents (dispatch/agents.py agent_bin): `gt` for {executable}.
import sys

sys.path.append({package_root!r})  # this gt's package, found without `site`
from gastown_tui.cmdwire import warm_call

sys.path.pop()
warm_call(sys.argv[1:])  # returns only when the town's command server did not run the call
import site

site.main()
from gastown_tui.cli import main

sys.exit(main(sys.argv[1:]))
"""
_PLAIN_PATH = frozenset(" \t\n\r\"'$`\\")  # none of these: the path stands in a `#!` line
# A path with a space cannot stand in a `#!` line: sh runs the interpreter, which then reads the
# second line as a string (as pip does for its own scripts in such folders).
_VIA_SH = "#!/bin/sh\n'''exec' '{executable}' -S \"$0\" \"$@\"\n' '''\n"


def agent_gt_script() -> str | None:
    """The town's `gt` for this interpreter; None when its path holds a quote or a line
    break (then agents run the installed `gt`)."""
    executable = sys.executable
    if not executable or "'" in executable or "\n" in executable:
        return None
    plain = not any(ch in _PLAIN_PATH for ch in executable)
    # Older kernels read 127 bytes of a `#!` line.
    if plain and len(executable.encode()) <= 117:
        head = f"#!{executable} -S\n"
    else:
        head = _VIA_SH.format(executable=executable)
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    return head + AGENT_GT.format(executable=executable, package_root=package_root)


def agent_bin(town: Town) -> str | None:
    """Write the town's `gt` (when missing, or naming another interpreter) as an agent's
    window starts: the folder agents' PATH starts with (agent_path), or None when there is
    no such script. If it cannot be written, a stale one goes, and agents find the installed
    `gt` next on their PATH."""
    from gastown_tui.town.storage.files import atomic_write_bytes

    text = agent_gt_script()
    if text is None:
        return None
    folder = town.paths.runtime / "bin"
    script = folder / "gt"
    try:
        if not (script.exists() and script.read_text() == text):
            atomic_write_bytes(script, text.encode(), durable=False)
            script.chmod(0o700)
    except (OSError, UnicodeDecodeError):
        with contextlib.suppress(OSError):
            script.unlink()
        return None
    return str(folder)


def agent_path(town: Town) -> str:
    """PATH for an agent's window: the town's `gt` (written as the window starts:
    agent_bin), then this installation's, then ours."""
    path = os.environ.get("PATH", "")
    first = [str(town.paths.runtime / "bin")] if agent_gt_script() is not None else []
    first.append(str(Path(sys.executable).parent))
    return os.pathsep.join([*first, *([path] if path else [])])


def window_env(
    town: Town,
    address: str,
    bead_id: str,
    beacon_text: str = "",
    role: str = "polecat",
    runtime: Runtime | None = None,
) -> dict[str, str]:
    """Everything a window is started with: GT_* for the agent, its git identity, PATH with
    this `gt` first (so `gt` inside is the installation that started it), the pass-through
    names that are set here, then [town] env and the runtime's env (which win)."""
    rig, _ = split_address(address)
    env: dict[str, str] = {}
    for key in passed_names(town, runtime):
        if os.environ.get(key):
            env[key] = os.environ[key]
    env.update(town.config.town_env())
    if runtime is not None:
        env.update(runtime.env)
    env.update(
        {
            "GT_TOWN": str(town.root),
            "GT_RIG": rig,
            "GT_AGENT": address,
            "GT_ROLE": role,
            "GT_BEAD": bead_id,
            "PATH": agent_path(town),
            **polecat_identity(address),
        }
    )
    if beacon_text:
        env["GT_BEACON"] = beacon_text
    return env


def passed_names(town: Town, runtime: Runtime | None) -> tuple[str, ...]:
    names = [*PASSTHROUGH_ENV, *town.config.pass_env(), *(runtime.pass_env if runtime else ())]
    return tuple(dict.fromkeys(names))


# Agents run interactively in their windows, whatever started the town: with these set (say,
# the town runs inside a CI job) Gemini CLI and others switch to headless mode and exit.
# Unset in every window unless [town.env] or the runtime's env sets them.
CI_MARKERS = (
    "CI",
    "CONTINUOUS_INTEGRATION",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "TRAVIS",
    "TF_BUILD",
    "JENKINS_URL",
    "BUILD_NUMBER",
    "RUN_ID",
)


def unset_names(town: Town, runtime: Runtime | None, env: dict[str, str]) -> tuple[str, ...]:
    """Names the window must not inherit from the tmux server: pass-through names not set
    here, and CI markers."""
    names = dict.fromkeys([*passed_names(town, runtime), *CI_MARKERS])
    return tuple(n for n in names if n not in env)


def launch_argv(env: dict[str, str], argv: list[str], unset: tuple[str, ...] = ()) -> list[str]:
    """`argv` run through `env -u … PATH=…`: tmux 3.3a gives a new pane the PATH of the tmux
    *client* that created it, whatever `-e PATH=` says, and the rest of the server's own
    environment, so the command itself sets PATH and drops stale pass-through variables.
    `env` execs the agent: the pane's pid stays the agent's."""
    path = env.get("PATH")
    if not path and not unset:
        return list(argv)
    prefix = [shutil.which("env") or "/usr/bin/env"]
    for name in unset:
        prefix += ["-u", name]
    if path:
        prefix.append(f"PATH={path}")
    return [*prefix, *argv]
