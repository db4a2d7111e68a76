"""Step 1 of a sling: check everything before anything is written (no side effects)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gastown_tui.dispatch.agents import window_env
from gastown_tui.dispatch.sling.jobs import Target
from gastown_tui.runtimes.presets import Runtime, resolve_runtime
from gastown_tui.town.beads import check_title
from gastown_tui.town.errors import GtError, GtFailure
from gastown_tui.town.models import ACTIVE_STATUSES, Bead, Rig
from gastown_tui.town.polecats import check_polecat_name
from gastown_tui.town.usage import require_budget
from gastown_tui.town.work import is_git_worktree

if TYPE_CHECKING:
    from gastown_tui.tmux import TownTmux
    from gastown_tui.town.town import Town

ID_RE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9][a-z0-9.]*$")


def looks_like_id(town: Town, value: str) -> bool:
    """A bead id, as opposed to the text of a new bead. Any one word shaped like an id counts
    (an unknown one is then an error, not a bead titled after a typo)."""
    return value in town.ids or bool(ID_RE.match(value.lower()))  # upper case: same id


def check_bead_for_sling(bead: Bead, rig: str, force: bool) -> None:
    if bead.rig != rig:
        raise GtError(
            f"bead {bead.id} belongs to rig {bead.rig!r}, not {rig!r}",
            hint=f"sling it to its own rig: gt sling {bead.id} {bead.rig}",
        )
    if force:
        return
    if bead.status in ACTIVE_STATUSES:
        who = bead.assignee or "someone"
        raise GtError(
            f"{bead.id} is already hooked by {who}",
            hint="pass --force to take it back and sling it again",
        )
    if bead.status != "open":
        raise GtError(
            f"{bead.id} is {bead.status}, not open",
            hint="reopen it (gt bead reopen) or pass --force",
        )


def validate(
    town: Town,
    tmux: TownTmux,
    targets: Sequence[str],
    rig: str,
    *,
    runtime: str | None,
    to: str | None,
    convoy: str | None,
    force: bool,
) -> tuple[Rig, Runtime, list[Target]]:
    if not targets:
        raise GtError("name a bead (or the text of a new one) to sling")
    require_budget(town)  # over budget, nothing new is dispatched
    tmux.require()
    rig_record = town.rigs.get(rig)
    if to is not None:
        check_polecat_name(to)
        if len(targets) > 1:
            raise GtError("--to names one polecat: sling one bead with it")
    if convoy is not None:
        town.convoys.get(convoy)
    if rig_record.git and not is_git_worktree(Path(rig_record.path)):
        raise GtFailure(
            f"rig {rig_record.name}'s repository {rig_record.path} is missing",
            hint="run `gt doctor`, or remove and re-add the rig",
        )
    if to is not None:
        polecat = town.polecats.find(f"{rig_record.name}/{to}")
        hooked = town.polecats.hooked(polecat.address) if polecat is not None else None
        if polecat is not None and (hooked is not None or polecat.is_starting):
            busy = hooked.id if hooked else "a sling in progress"
            if not (force and hooked is not None and hooked.id in targets):
                raise GtError(
                    f"polecat {polecat.address} is busy with {busy}",
                    hint="pick another with --to, or leave --to out",
                )
    in_rig = {d.get("id") for d in town.storage.beads.docs(rig_record.name)}
    out: list[Target] = []
    seen: set[str] = set()
    for raw in targets:
        value = (raw or "").strip()
        if looks_like_id(town, value):
            bead = town.beads.find(value)
            if bead is None:
                raise GtError(
                    f"unknown bead {value!r}",
                    hint=town.beads.did_you_mean(value).replace(
                        "list beads with `gt bead list --all`", "list beads with `gt bead list`"
                    )
                    + "; to sling new work, describe it in words",
                )
            check_bead_for_sling(bead, rig_record.name, force)
            if bead.id not in in_rig:
                raise GtError(f"{bead.id} is archived", hint="reopen it first (gt bead reopen)")
            if bead.id in seen:
                raise GtError(f"{bead.id} is named twice")
            seen.add(bead.id)
            out.append(Target(bead_id=bead.id, bead=bead))
        else:
            out.append(Target(text=check_title(value)))
    if runtime is None:
        runtime = runtime_of_holders(town, [t.bead for t in out if t.bead is not None])
    chosen_runtime = resolve_runtime(town, runtime)
    # Checked against the environment its windows will really get (root, API keys).
    chosen_runtime.require_installed(
        window_env(town, f"{rig_record.name}/check", "", runtime=chosen_runtime)
    )
    return rig_record, chosen_runtime, out


def runtime_of_holders(town: Town, beads: list[Bead]) -> str | None:
    """A re-sling (--force) of hooked beads restarts them with their polecats' runtime."""
    runtimes: set[str] = set()
    for bead in beads:
        if bead.assignee and bead.status in ACTIVE_STATUSES:
            holder = town.polecats.find(bead.assignee) if "/" in bead.assignee else None
            if holder is not None and holder.runtime:
                runtimes.add(holder.runtime)
    return runtimes.pop() if len(runtimes) == 1 else None
