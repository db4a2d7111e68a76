"""town.toml as typed sections (town/config.py): the template written by `gt init` is generated
from the sections' defaults and agrees with them; bad values are one clear error, exit 2."""

from __future__ import annotations

import re
import tomllib
from dataclasses import FrozenInstanceError, asdict, fields

import pytest

from gastown_tui.town.config import SECTIONS, TownConfig, render_template, template_text
from gastown_tui.town.errors import GtError
from gastown_tui.town.town import Town
from tests.conftest import GtRunner


def test_the_template_and_the_defaults_agree() -> None:
    text = template_text()
    parsed = TownConfig.from_data(tomllib.loads(text))
    defaults = TownConfig.from_data({})
    # Every value the template sets is its default (raw keeps the file as written).
    assert {**asdict(parsed), "raw": None} == {**asdict(defaults), "raw": None}
    # And every key of every section is in it, set or commented out, under its section.
    for name, cls, _, _ in SECTIONS:
        match = re.search(rf"^(# )?\[{name}\]\n(.*?)(?=^(# )?\[|\Z)", text, re.M | re.S)
        assert match, f"[{name}] is missing from the template"
        for spec in fields(cls):
            key = re.search(rf"^(# )?{spec.name} = ", match.group(2), re.M)
            table = f"# [{name}.{spec.name}]\n" in text  # a table of its own: [budget.prices]
            assert key or table, f"{name}.{spec.name} is missing from the template"


def test_commented_sections_hold_the_defaults_too() -> None:
    """A commented-out section (`gt demo` appends its own [demo]) shows the real defaults."""
    commented = {name for name, _, how, _ in SECTIONS if how == "commented"}
    lines, inside = [], False
    for line in template_text().splitlines():
        header = re.match(r"^# \[(\w+)\]$", line)
        if header:
            inside = header.group(1) in commented
        elif not line:
            inside = False
        if inside and re.match(r"^# (\[\w+\]|\w+ = )", line):
            lines.append(line[2:])
    data = tomllib.loads("\n".join(lines))
    assert set(data) == commented
    parsed, defaults = TownConfig.from_data(data), TownConfig.from_data({})
    for name in commented:
        assert asdict(getattr(parsed, name)) == asdict(getattr(defaults, name)), name


def test_init_writes_the_generated_template(tmp_path) -> None:
    town = Town.init(tmp_path / "t", name='Say "hi"', runtime="demo")
    text = town.paths.town_toml.read_text()
    assert text == render_template('Say "hi"', "demo")
    assert town.config.name == 'Say "hi"' and town.config.default_runtime == "demo"
    assert town.config.supervise.witness_interval == 30.0
    assert town.config.thresholds.hook_age == 3600.0
    assert town.config.refinery_for("alpha").verify_timeout == 600.0


def test_sections_are_parsed_once_and_typed() -> None:
    config = TownConfig.from_data(
        {
            "supervise": {"witness_interval": "5s", "backups_keep": 3},
            "refinery": {"verify": "make test", "push": True},
            "rigs": {"alpha": {"verify": "pytest -q", "merge_strategy": "pr"}},
            "budget": {"max_usd": 5, "prices": {"my-model": [1, 2]}},
            "town": {"pass_env": ["HTTPS_PROXY"], "env": {"A": "b"}},
        }
    )
    assert config.supervise.witness_interval == 5.0 and config.supervise.backups_keep == 3
    alpha = config.refinery_for("alpha")
    assert (alpha.verify, alpha.push, alpha.merge_strategy) == ("pytest -q", True, "pr")
    assert config.refinery_for("beta").verify == "make test"
    assert config.budget.max_usd == 5.0 and config.budget.prices == {"my-model": (1.0, 2.0)}
    assert config.pass_env() == ("HTTPS_PROXY",) and config.town_env() == {"A": "b"}
    with pytest.raises(FrozenInstanceError):  # read-only once made
        config.supervise.witness_interval = 1.0  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        config.refinery = alpha  # type: ignore[misc]


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[supervise]\nwitness_interval = "soon"', "witness_interval = 'soon' is not a duration"),
        ("[supervise]\nbackups_keep = 1.5", "supervise.backups_keep must be a whole number"),
        ('[refinery]\npush = "yes"', "refinery.push must be true or false"),
        ('[rigs.alpha]\nmerge_strategy = "squash"', "rigs.alpha.merge_strategy = 'squash' is not"),
        ('[rigs.alpha]\nverify_timeout = "x"', "rigs.alpha.verify_timeout = 'x' is not a duration"),
        ('[budget.prices]\nm = "cheap"', "[budget.prices] 'm' must be [input, output]"),
        ("keymap = 3", 'keymap must be a table of action = "key"'),
        ("thresholds = 3", "thresholds must be a table"),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_clear_error(toml: str, words: str) -> None:
    with pytest.raises(GtError) as caught:
        TownConfig.from_data(tomllib.loads(toml))
    assert words in str(caught.value)


def test_a_bad_town_toml_stops_the_cli_with_exit_2(town: Town, gt: GtRunner) -> None:
    path = town.paths.town_toml
    path.write_text(path.read_text().replace('restart_backoff = "30s"', 'restart_backoff = "x"'))
    proc = gt("status")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()
    assert len(line) == 1 and "supervise.restart_backoff = 'x' is not a duration" in line[0]


def test_a_remembered_town_toml_is_used_only_for_the_very_same_text(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gastown_tui.town import config as config_module

    monkeypatch.setattr(config_module, "_REMEMBERED", {})
    path = town.paths.town_toml
    TownConfig.remember(path)  # as the command server does (cmdserver.py)
    first = TownConfig.load(path)
    assert TownConfig.load(path) is first  # the same text: not parsed again
    path.write_text(path.read_text().replace('witness_interval = "30s"', 'witness_interval = "7s"'))
    changed = TownConfig.load(path)
    assert changed is not first and changed.supervise.witness_interval == 7.0
    path.write_text("this is = = not toml")
    TownConfig.remember(path)  # a broken file is not kept: the load says what is wrong
    with pytest.raises(GtError, match="not valid TOML"):
        TownConfig.load(path)
