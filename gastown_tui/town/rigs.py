"""Rigs: the projects of a town. Usually a git repository cloned into the town, or a plain
directory for non-coding work. The registry lives in `store/town.json` (table `rigs`)."""

from __future__ import annotations

import re
from pathlib import Path

from gastown_tui.town.clock import iso
from gastown_tui.town.errors import GtError
from gastown_tui.town.models import Rig
from gastown_tui.town.paths import check_name

TYPE_CHECKING = False  # typing's import is ~2 ms of every gt call (tests/test_cli_cheap.py)
if TYPE_CHECKING:
    from gastown_tui.town.town import Town

PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")


class RigRegistry:
    def __init__(self, town: Town) -> None:
        self.town = town

    def _docs(self) -> list[dict]:
        return self.town.storage.rigs.docs()

    def list(self) -> list[Rig]:
        return sorted((Rig.from_dict(d) for d in self._docs()), key=lambda r: r.name)

    def names(self) -> list[str]:
        return sorted(d["name"] for d in self._docs())

    def exists(self, name: str) -> bool:
        return any(d["name"] == name for d in self._docs())

    def get(self, name: str) -> Rig:
        for doc in self._docs():
            if doc["name"] == name:
                return Rig.from_dict(doc)
        known = ", ".join(self.names()) or "none yet"
        raise GtError(f"unknown rig {name!r}", hint=f"rigs: {known}; add one with `gt rig add`")

    def default(self) -> Rig:
        """The rig meant when none is named: the agent's own, or the only one."""
        import os

        env_rig = os.environ.get("GT_RIG")
        if env_rig and self.exists(env_rig):
            return self.get(env_rig)
        rigs = self.list()
        if len(rigs) == 1:
            return rigs[0]
        if not rigs:
            raise GtError("this town has no rigs yet", hint="add one with `gt rig add NAME PATH`")
        raise GtError(
            "this town has several rigs; say which with --rig",
            hint="rigs: " + ", ".join(r.name for r in rigs),
        )

    def for_new_work(self, cwd: Path | None = None) -> tuple[Rig, str]:
        """The rig a new bead goes to when none is named, and why (empty when obvious): the
        agent's own (GT_RIG) or the only one; else the rig whose folder holds `cwd`; else
        `[town] default_rig`; else the first rig added. The README's tour relies on this."""
        try:
            return self.default(), ""
        except GtError:
            rigs = self.list()
            if not rigs:
                raise
        here = (cwd or Path.cwd()).resolve()
        for rig in rigs:
            for folder in (Path(rig.path), self.town.paths.rig_dir(rig.name)):
                try:
                    if here.is_relative_to(folder.resolve()):
                        return rig, f"rig {rig.name} (you are in its folder)"
                except OSError:
                    continue
        wanted = self.town.config.town.default_rig
        if wanted:
            return self.get(wanted), f"rig {wanted} (the town's default_rig)"
        first = min(rigs, key=lambda r: (r.added_at, r.name))
        return first, (
            f"rig {first.name} (the first rig added; choose with --rig,"
            " or set [town] default_rig in town.toml)"
        )

    def _pick_prefix(self, name: str, taken: set[str]) -> str:
        letters = re.sub(r"[^a-z0-9]", "", name)
        for length in range(2, len(letters) + 1):
            candidate = letters[:length]
            if PREFIX_RE.match(candidate) and candidate not in taken:
                return candidate
        for n in range(2, 100):
            candidate = f"{letters[:4]}{n}"
            if candidate not in taken:
                return candidate
        raise GtError(f"cannot pick a prefix for {name!r}", hint="pass --prefix")

    def add(
        self,
        name: str,
        source: str,
        *,
        prefix: str | None = None,
        no_git: bool = False,
        branch: str | None = None,
    ) -> Rig:
        import shutil

        from gastown_tui.town import git

        check_name("rig", name)
        if self.exists(name):
            raise GtError(f"rig {name!r} already exists")
        taken = {r.prefix for r in self.list()}
        if prefix is not None:
            if not PREFIX_RE.match(prefix):
                raise GtError(
                    f"invalid prefix {prefix!r}",
                    hint="1-10 lowercase letters or digits, starting with a letter",
                )
            if prefix in taken:
                raise GtError(f"prefix {prefix!r} is already used by another rig")
        else:
            prefix = self._pick_prefix(name, taken)
        rig_dir = self.town.paths.rig_dir(name)
        is_url = git.looks_like_url(source)
        if no_git:
            if is_url:
                raise GtError("--no-git needs a local directory, not a URL")
            path = Path(source).expanduser().absolute()
            if not path.is_dir():
                raise GtError(f"{source} is not a directory", hint="create it first")
            rig = Rig(name, prefix, str(path), git=False, url="", branch="", added_at="")
            created_dirs: list[Path] = []
        else:
            if not is_url:
                local = Path(source).expanduser().absolute()
                if not local.exists():
                    raise GtError(f"{source} does not exist")
                if not local.is_dir() or not git.is_repo(local):
                    raise GtError(
                        f"{source} is not a git repository",
                        hint="pass --no-git to register a plain directory",
                    )
                source = str(local)
            if rig_dir.exists() and any(rig_dir.iterdir()):
                raise GtError(f"{rig_dir} already exists and is not empty", hint="move it away")
            repo = self.town.paths.rig_repo(name)
            created_dirs = [rig_dir]
            try:
                git.git(["clone", "--quiet", source, str(repo)])
                if branch:
                    git.git(["checkout", "--quiet", branch], cwd=repo)
                if git.head_commit(repo) is None:
                    raise GtError(
                        f"{source} has no commits yet",
                        hint="make a first commit so polecats can branch from it",
                    )
                main = git.current_branch(repo) or "main"
            except BaseException:
                shutil.rmtree(rig_dir, ignore_errors=True)
                raise
            rig = Rig(name, prefix, str(repo), git=True, url=source, branch=main, added_at="")
        rig.added_at = iso(self.town.clock.now())
        try:
            (rig_dir / "polecats").mkdir(parents=True, exist_ok=True)
            with self.town.storage.town_txn() as tx:
                if any(d["name"] == name for d in tx.rigs()):
                    raise GtError(f"rig {name!r} already exists")
                if any(d["prefix"] == prefix for d in tx.rigs()):
                    raise GtError(f"prefix {prefix!r} is already used by another rig")
                tx.add_rig(rig.to_dict())
        except BaseException:
            for folder in created_dirs:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        self.town.events.append(
            "rig.added",
            actor=self.town.actor,
            rig=name,
            msg=f"{source} (prefix {prefix})",
            record=rig.to_dict(),  # for `gt doctor` to rebuild a lost town.json
        )
        return rig

    def remove(self, name: str, *, force: bool = False) -> Path | None:
        """Unregister a rig. Its files stay on disk; its store file moves to store/removed/."""
        rig = self.get(name)
        active = [
            d["id"]
            for d in self.town.storage.beads.docs(name)
            if d.get("status") in ("hooked", "in_progress")
        ]
        if active and not force:
            raise GtError(
                f"rig {name!r} has work in flight: {', '.join(sorted(active)[:5])}",
                hint="finish it first, or pass --force (the rig's files are kept)",
            )
        moved: Path | None = None
        with self.town.storage.town_txn() as tx:
            tx.remove_rig(name)
            stamp = iso(self.town.clock.now()).replace(":", "").replace(".", "")
            kept = self.town.storage.retire_rig(name, stamp)
            moved = Path(kept) if kept else None
        self.town.events.append("rig.removed", actor=self.town.actor, rig=rig.name, msg=rig.path)
        return moved
