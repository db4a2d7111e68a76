"""`gt serve`: the app in headless Chromium through textual-serve, behind a token.

The browser test reads the terminal the page renders (xterm.js's screen buffer) and types into
it like a person. Chromium and its driver are Debian's `chromium` and `chromium-driver`
(installed by .ci/run); without them the browser tests skip, naming what is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from tests.conftest import ROOT, wait_until
from tests.tui_fixtures import anyio_backend

pytest_plugins = ["tests.polecat_fixtures"]
__all__ = ["anyio_backend"]  # a fixture, used by name

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="SKIPPED LOUDLY: chromium and chromedriver are needed for the browser tests of "
    "`gt serve` (Debian: apt-get install chromium chromium-driver; .ci/run installs them)",
)

# Runs before the page's scripts: textual.js keeps its xterm.js Terminal on an object that
# also gets a `fitAddon`; an inherited setter of that name hands the object to the test.
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, 'fitAddon', {
  configurable: true,
  set(value) {
    Object.defineProperty(this, 'fitAddon', {value, writable: true, configurable: true});
    if (this.terminal) { window.__gtTerminal = this.terminal; }
  },
});
"""
SCREEN_TEXT = """
const t = window.__gtTerminal;
if (!t) { return null; }
const buffer = t.buffer.active;
const lines = [];
for (let y = 0; y < t.rows; y++) {
  const line = buffer.getLine(buffer.viewportY + y);
  lines.push(line ? line.translateToString(true) : '');
}
return lines.join('\\n');
"""


def start_serve(town: Town, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "GT_TOWN": str(town.root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown_tui", "serve", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url:
        proc.kill()
        pytest.fail(f"gt serve printed no URL: {proc.stderr.read() if proc.stderr else ''}")
    return proc, url


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture
def served(rig_town: Town) -> Iterator[tuple[Town, str]]:
    proc, url = start_serve(rig_town)
    try:
        yield rig_town, url
    finally:
        stop(proc)


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_every_request_without_the_token_is_refused(served: tuple[Town, str]) -> None:
    _town, url = served
    assert url.startswith("http://127.0.0.1:") and "/?token=" in url
    base, token = url.split("/?token=")
    assert len(token) >= 16
    ws_headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    assert status_of(f"{base}/") == 403
    assert status_of(f"{base}/?token=wrong-{token}") == 403
    assert status_of(f"{base}/ws", ws_headers) == 403
    assert status_of(f"{base}/static/js/textual.js") == 403
    assert status_of(f"{base}/?token={token[:-1]}") == 403
    assert status_of(url) == 200
    port = base.rsplit(":", 1)[1]
    cookie = {"Cookie": f"gt_serve_token_{port}={token}"}
    assert status_of(f"{base}/static/js/textual.js", cookie) == 200
    # A page on another site cannot open the websocket with the person's cookie.
    evil = {**ws_headers, **cookie, "Origin": "http://evil.example"}
    assert status_of(f"{base}/ws", evil) == 403


def test_bad_input_is_one_line_exit_2(rig_town: Town) -> None:
    env = {**os.environ, "GT_TOWN": str(rig_town.root)}

    def gt(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gastown_tui", "serve", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=30,
        )

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = gt("--port", str(port))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and f"port {port} is in use" in result.stderr
    for args, words in [
        (("--host", "no such host.invalid", "--port", "0"), "invalid --host"),
        (("--host", "192.0.2.55", "--port", "0"), "cannot listen on 192.0.2.55"),
        (("--port", "70000"), "not a port"),
        (("--token", "short", "--port", "0"), "at least 16 characters"),
        (("--token", "", "--port", "0"), "empty token"),
    ]:
        result = gt(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


def test_a_host_other_than_loopback_says_what_it_exposes(rig_town: Town) -> None:
    proc, url = start_serve(rig_town, "--host", "0.0.0.0", "--write")
    try:
        assert "/?token=" in url
        assert proc.stderr is not None
        warning = proc.stderr.readline()
        assert "every network interface" in warning and "ACT in it" in warning
        assert "plain HTTP" in warning
    finally:
        stop(proc)


def _driver(tmp_path: Path):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE_TERMINAL})
    return driver


def _screen(driver) -> str:  # type: ignore[no-untyped-def]
    return driver.execute_script(SCREEN_TEXT) or ""


def _wait_screen(driver, words: list[str], what: str, timeout: float = 30.0) -> str:  # type: ignore[no-untyped-def]
    def probe() -> str | None:
        text = _screen(driver)
        return text if all(w in text for w in words) else None

    try:
        return wait_until(probe, timeout=timeout, what=what)
    except BaseException:
        print("---- the browser's terminal ----\n" + _screen(driver))
        raise


def _type(driver, keys: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
    box.send_keys(keys)


@needs_chromium
def test_the_browser_shows_the_town_and_keys_work(served: tuple[Town, str], tmp_path: Path) -> None:
    town, url = served
    driver = _driver(tmp_path)
    try:
        driver.get(url.split("?")[0])  # a browser without the token is refused
        assert "403" in driver.page_source and _screen(driver) == ""
        driver.get(url)
        # It says what this view is: a notice, which may reach the browser a frame after the town.
        _wait_screen(
            driver,
            ["alpha", "Rigs", "Browser view, read-only"],
            "the town and the read-only notice",
        )
        # Read-only: an action that changes the town is refused with a notice.
        _type(driver, "s")
        _wait_screen(driver, ["Read-only", "cannot sling"], "the read-only notice")
        # A key press changes the screen: help lists the keys.
        _type(driver, "?")
        _wait_screen(driver, ["Search the feed", "Close"], "the help screen")
        _type(driver, "\ue00c")  # Escape closes it
        wait_until(lambda: "Search the feed" not in _screen(driver), what="help to close")
    finally:
        driver.quit()
    # Nothing the browser did wrote to the town's store (read-only).
    assert town.mail.inbox("overseer") == []


@needs_chromium
def test_with_write_a_person_slings_from_the_browser(
    rig_town: Town, tmux: TownTmux, tmp_path: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    toml = rig_town.paths.town_toml
    toml.write_text(
        toml.read_text().replace('default_runtime = "claude"', 'default_runtime = "demo"')
    )
    proc, url = start_serve(rig_town, "--write")
    driver = _driver(tmp_path)
    try:
        driver.get(url)
        _wait_screen(driver, ["alpha", "Browser view, read-write"], "the town in the browser")
        _type(driver, "s")
        text = _wait_screen(driver, ["search ready beads, or type new work"], "the sling dialog")
        assert "Read-only" not in text
        _type(driver, "Map the salt flats")
        _type(driver, Keys.CONTROL + "s")

        def slung() -> list[Any]:
            return [b for b in rig_town.beads.list(rig="alpha") if b.title == "Map the salt flats"
                    and b.assignee]  # fmt: skip

        [bead] = wait_until(slung, timeout=30, what="the sling from the browser")
        _wait_screen(driver, [bead.assignee.split("/")[1]], "the new polecat on the page")
    finally:
        driver.quit()
        stop(proc)


@pytest.mark.anyio
async def test_read_only_is_gated_in_one_place_and_attach_says_why(rig_town: Town) -> None:
    from gastown_tui.town.errors import GtError
    from gastown_tui.tui.serve import ReadOnlyTownData, make_served_app

    app = make_served_app(rig_town, read_only=True)
    assert isinstance(app.data, ReadOnlyTownData)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key in ("s", "m", "c"):
            await pilot.press(key)
        await pilot.pause()
        app.action_nudge("alpha/nux")
        app.action_attach("alpha/nux")
        await pilot.pause()
        notices = [n.message for n in app._notifications]
        assert sum("Read-only: cannot" in n for n in notices) == 4, notices
        assert any("Attach is unavailable in a browser" in n for n in notices), notices
        assert len(app.screen_stack) == 1  # no dialog was opened
    # The floor under the gate: the adapter itself refuses writes.
    with pytest.raises(GtError, match="read-only"):
        app.data.sling("al-1", "alpha")
    with pytest.raises(GtError, match="read-only"):
        app.data.send_mail(["overseer"], "hi", "there")


def test_every_write_of_the_town_adapter_is_refused_read_only() -> None:
    from gastown_tui.tui.serve import READ_METHODS, ReadOnlyTownData
    from gastown_tui.views.actions import TownData

    public = {n for n in dir(TownData) if not n.startswith("_")}
    writes = public - READ_METHODS
    assert writes, "the adapter has writes"
    unguarded = {n for n in writes if n not in ReadOnlyTownData.__dict__}
    assert not unguarded, f"classify these TownData methods in tui/serve.py: {unguarded}"
