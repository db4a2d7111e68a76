"""The app's pieces without a running app: theme and layout loading, what a changed file
means, the problems order, the backend adapter's conversions, feed filters, messages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.color import Color

from gastown_tui.dispatch.observe import PolecatView, WindowView
from gastown_tui.dispatch.sling import SlingResult
from gastown_tui.town.models import Event
from gastown_tui.tui.layouts import load_layouts, scope
from gastown_tui.tui.messages import EventsAppended, StoreChanged
from gastown_tui.tui.themes import data_dirs, load_themes, theme_from_toml
from gastown_tui.tui.widgets.feed import FeedFilter
from gastown_tui.views.actions import describe_sling
from gastown_tui.views.changes import change_scope
from gastown_tui.views.problems import find_problems
from gastown_tui.views.queries import polecat_row
from gastown_tui.views.rows import BeadRow, HookedBead, MailRow, PolecatRow

REPO = Path(__file__).resolve().parent.parent
STATE_VARIABLES = ("working", "idle", "starting", "waiting", "stalled", "gupp", "zombie")


# -- themes ------------------------------------------------------------------------------------
def test_shipped_themes_load_and_cover_the_brief() -> None:
    loaded = load_themes([REPO / "themes"])
    assert loaded.errors == []
    assert {"wasteland", "salt-flats", "high-octane", "thunderdome"} <= set(loaded.themes)
    assert loaded.themes["wasteland"].dark
    assert not loaded.themes["salt-flats"].dark  # a light one
    for theme in loaded.themes.values():
        for state in STATE_VARIABLES:
            Color.parse(theme.variables[f"gt-{state}"])  # every state has its colour


def test_high_contrast_theme_really_contrasts() -> None:
    theme = load_themes([REPO / "themes"]).themes["high-octane"]
    fg, bg = Color.parse(theme.foreground or ""), Color.parse(theme.background or "")
    assert abs(fg.brightness - bg.brightness) > 0.9


def test_the_wheel_ships_themes_and_layouts() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include == {"themes": "gastown_tui/_data/themes", "layouts": "gastown_tui/_data/layouts"}
    wheel_dir, repo_dir = data_dirs("themes")
    assert wheel_dir.parts[-3:] == ("gastown_tui", "_data", "themes")
    assert repo_dir == REPO / "themes"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('name = "x"\nprimary = "#12345"\n', "is not a colour"),
        ('name = "x"\n', "needs at least `primary`"),
        ('name = "Bad Name"\nprimary = "#123456"\n', "lowercase"),
        ('name = "x"\nprimary = "#123456"\nwhatever = 1\n', "unknown keys: whatever"),
        ('name = "x"\nprimary = "#123456"\n[variables]\ngt-working = "nope"\n', "gt-working"),
        ('name = "x"\nprimary = "#123456"\ndark = "yes"\n', "dark must be"),
        ("name = [\n", "not valid TOML"),
    ],
)
def test_bad_theme_files_say_what_is_wrong(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=error.replace("`", ".").replace("(", ".")):
        theme_from_toml(path)


def test_theme_variables_accept_alpha_and_styles(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        'name = "ok"\nprimary = "#123456"\n[variables]\n'
        'input-selection-background = "#81a1c1 35%"\nblock-cursor-text-style = "bold"\n'
    )
    theme = theme_from_toml(path)
    assert theme.variables["block-cursor-text-style"] == "bold"


def test_load_themes_collects_every_failure(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('primary = "zz"\n')
    (tmp_path / "b.toml").write_text("=\n")
    (tmp_path / "c.toml").write_text('primary = "#abcdef"\n')
    loaded = load_themes([tmp_path])
    assert [e.split(":")[0] for e in loaded.errors] == ["a.toml", "b.toml"]
    assert list(loaded.themes) == ["c"]  # named after its file when it has no name


# -- layouts -----------------------------------------------------------------------------------
def test_shipped_layouts_parse() -> None:
    from gastown_tui.tui.themes import FALLBACK_VARIABLES
    from gastown_tui.tui.themes import load_themes as themes

    variables = themes([REPO / "themes"]).themes["wasteland"].to_color_system().generate()
    variables.update(FALLBACK_VARIABLES)
    loaded = load_layouts([REPO / "layouts"], variables)
    assert loaded.errors == []
    assert loaded.names()[:3] == ["default", "compact", "focus"]


def test_a_bad_layout_is_reported_not_loaded(tmp_path: Path) -> None:
    (tmp_path / "broken.tcss").write_text("#town { layuot: grid; }\n")
    (tmp_path / "fine.tcss").write_text("#town { layout: vertical; }\n")
    loaded = load_layouts([tmp_path], {})
    assert list(loaded.layouts) == ["fine"]
    assert loaded.errors and loaded.errors[0].startswith("broken.tcss")
    assert scope("fine", "x").startswith("TownScreen.layout-fine {")


# -- what a changed file means -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("rel", "scope_name"),
    [
        ("events.jsonl", "events"),
        ("town.toml", "config"),
        ("store/town.json", "town"),
        ("store/rigs/alpha.json", "rig:alpha"),
        ("store/mail/overseer.json", "mail:overseer"),
        ("store/mail/alpha~furiosa.json", "mail:alpha/furiosa"),
        ("store/archive/2026-11.json", "archive"),
        (".runtime/heartbeats/alpha~nux.json", "heartbeats"),
        (".runtime/locks/events.lock", None),
        ("store/rigs/.alpha.json.x1y2.tmp", None),
        ("store/rigs/alpha.json.lock", None),
        ("rigs/alpha/repo/README.md", None),
        ("rigs/alpha/polecats/nux/notes.md", None),
    ],
)
def test_change_scope(rel: str, scope_name: str | None) -> None:
    assert change_scope("/t", f"/t/{rel}") == scope_name


# -- problems ----------------------------------------------------------------------------------
def test_problems_come_most_urgent_first() -> None:
    polecats = [
        PolecatRow("a/idle", "a", "idle", "idle"),
        PolecatRow("a/slow", "a", "slow", "stalled", hook=HookedBead("a-1", "x"), last_activity=5),
        PolecatRow("a/dead", "a", "dead", "zombie", hook=HookedBead("a-2", "y"), last_activity=9),
        PolecatRow("a/asks", "a", "asks", "waiting", hook=HookedBead("a-3", "z"), last_activity=7),
        PolecatRow("a/busy", "a", "busy", "working", hook=HookedBead("a-4", "w")),
    ]
    mail = [
        MailRow("m1", "a/witness", "ESCALATION: crash loop", type="escalation"),
        MailRow("m2", "a/refinery", "MERGE_FAILED a-9"),
        MailRow("m3", "mayor", "hello"),
        MailRow("m4", "a/witness", "ESCALATION: old news", type="escalation", read=True),
        MailRow("m5", "a/nux", "HELP: which API?"),
    ]
    beads = [BeadRow("a-7", "Pick a name", "a", labels=("needs-human",))]
    kinds = [p.kind for p in find_problems(polecats, mail, beads)]
    assert kinds == [
        "waiting",
        "zombie",
        "escalation",
        "help",
        "merge-failed",
        "stalled",
        "needs-human",
    ]


# -- the adapter's view of backend records -----------------------------------------------------
def test_polecat_view_from_dispatch_observe_converts() -> None:
    window = WindowView("gt-alpha", "nux", "%7", 123, False, None, True, "python3")
    view = PolecatView(
        address="alpha/nux",
        rig="alpha",
        name="nux",
        runtime="demo",
        stored_state="working",
        state="waiting",
        bead_id="al-1",
        bead_title="Fix it",
        bead_status="hooked",
        window=window,
        last_activity=1_795_000_000.0,
        worktree="/w",
        branch="b",
        hint="waiting for a person",
    )
    row = polecat_row(view)
    assert row == PolecatRow(
        "alpha/nux",
        "alpha",
        "nux",
        "waiting",
        "demo",
        HookedBead("al-1", "Fix it", "hooked"),
        True,
        True,
        "%7",
        1_795_000_000.0,
        "waiting for a person",
    )
    idle = polecat_row(
        PolecatView(
            "beta/slit",
            "beta",
            "slit",
            "demo",
            "idle",
            "idle",
            None,
            None,
            None,
            None,
            None,
            "/w",
            None,
        )
    )
    assert (idle.rig, idle.name, idle.hook, idle.window_exists, idle.alive) == (
        "beta",
        "slit",
        None,
        False,
        False,
    )


def test_sling_results_are_described() -> None:
    result = SlingResult(
        bead="al-1",
        title="t",
        address="alpha/nux",
        rig="alpha",
        runtime="demo",
        worktree="/w",
        branch=None,
        session="gt-alpha",
        window="nux",
        pane_id="%1",
        pid=None,
        created_polecat=True,
        convoy="cv-1",
    )
    assert describe_sling(result) == "slung al-1 onto alpha/nux (convoy cv-1)"


# -- feed filters and messages -----------------------------------------------------------------
def _event(type_: str, actor: str = "a/x", rig: str | None = "a", msg: str = "") -> Event:
    return Event("2026-11-18T10:00:00.000Z", type_, actor, rig, None, msg)


def test_feed_filter_matches() -> None:
    assert FeedFilter(type="bead").matches(_event("bead.created"))
    assert not FeedFilter(type="bead").matches(_event("beads.other"))
    assert FeedFilter(type="bead.closed").matches(_event("bead.closed"))
    assert not FeedFilter(rig="b").matches(_event("x"))
    assert FeedFilter(actor="a/x", text="OIL").matches(_event("x", msg="change the oil"))
    assert not FeedFilter(text="water").matches(_event("x", msg="oil"))
    assert FeedFilter(rig="a", text="z").describe() == "rig=a /z"


def test_superseded_updates_merge_instead_of_queueing() -> None:
    older = StoreChanged({"rig:alpha"})
    newer = StoreChanged({"mail:overseer"})
    assert older.can_replace(newer)
    assert newer.scopes == {"rig:alpha", "mail:overseer"}
    first = EventsAppended([_event("one")])
    second = EventsAppended([_event("two")])
    assert first.can_replace(second)
    assert [e.type for e in second.events] == ["one", "two"]  # order kept, nothing lost
