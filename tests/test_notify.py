"""[notify]: events reach a person through sinks, once, without ever holding up a patrol.

Sinks are tested against a real HTTP server on 127.0.0.1 in a thread (never the internet).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gastown_tui.dispatch.observe import observe
from gastown_tui.dispatch.sling import sling
from gastown_tui.supervise.host import Supervisor
from gastown_tui.supervise.notify import Notifier
from gastown_tui.supervise.notify_route import NotifyRouter
from gastown_tui.tmux import TownTmux
from gastown_tui.town.town import Town
from gastown_tui.town.usage import record_usage
from tests.conftest import GtRunner, wait_until
from tests.tmux_helpers import real_tmux

pytest_plugins = ["tests.polecat_fixtures"]


class Hook:
    """A local HTTP server that records JSON POSTs; it can fail or hang on purpose."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.hang = threading.Event()  # set: requests wait until `release` is set
        self.release = threading.Event()
        self.entered = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                hook.entered.set()
                if hook.hang.is_set():
                    hook.release.wait(30)
                hook.posts.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    try:
        yield server
    finally:
        server.close()


def configure(town: Town, text: str) -> None:
    path = town.paths.town_toml
    path.write_text(path.read_text() + "\n" + text)


def webhook(url: str, extra: str = "") -> str:
    return f"""
[notify]
retries = 2
backoff = "0.05s"
timeout = "2s"
{extra}

[notify.sinks.chat]
type = "webhook"
url = "{url}/hook"
"""


def landed(town: Town, convoy: str, title: str) -> None:
    town.events.append("convoy.landed", actor="deacon", msg=title, convoy=convoy, landing=1)


# -- the acceptance test: a waiting polecat reaches a webhook within one patrol --------------
@real_tmux
def test_a_polecat_that_starts_waiting_reaches_the_webhook_within_one_patrol(
    rig_town: Town, tmux: TownTmux, hook: Hook
) -> None:
    configure(rig_town, webhook(hook.url))
    bead = rig_town.beads.create("Open the vault", rig="alpha", labels=["needs-human"])
    sling(rig_town, tmux, bead.id, "alpha", runtime="demo")
    wait_until(
        lambda: any(v.state == "waiting" for v in observe(rig_town, tmux)),
        timeout=20,
        what="the demo agent to wait at its question",
    )
    first = Supervisor(rig_town, tmux, Notifier())
    first.run_all()  # one round: the witness sees the wait, the notify patrol sends it
    wait_until(lambda: hook.posts, timeout=10, what="the webhook to be called")
    [post] = hook.posts
    body = post["body"]
    assert post["path"] == "/hook"
    assert body["event"] == "waiting" and body["polecat"] == "alpha/furiosa"
    assert body["bead"] == bead.id
    # Slack reads `text`, Discord reads `content`.
    assert "alpha/furiosa is waiting for you" in body["text"]
    assert body["content"] == body["text"]
    # A second supervisor (a daemon taking over, or running beside) sees the same event in
    # the log and does not tell it again; nor does the first one on its next round.
    second = Supervisor(rig_town, tmux, Notifier())
    second.run_all()
    first.run_all()
    first.notify_router.close()
    second.notify_router.close()
    assert len(hook.posts) == 1


def test_two_routers_at_once_send_each_notice_exactly_once(town: Town, hook: Hook) -> None:
    configure(town, webhook(hook.url))
    routers = [NotifyRouter(town) for _ in range(2)]
    for router in routers:
        router.patrol()  # both are following the log now
    for n in range(20):
        landed(town, f"hq-cv-{n}", f"Convoy {n}")
    barrier = threading.Barrier(2)

    def run(router: NotifyRouter) -> None:
        barrier.wait()
        router.patrol()

    threads = [threading.Thread(target=run, args=(r,)) for r in routers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for router in routers:
        router.close()
    titles = sorted(p["body"]["message"] for p in hook.posts)
    assert titles == sorted(f"hq-cv-{n} Convoy {n}" for n in range(20))


def test_a_starting_router_tells_recent_events_it_missed_but_never_twice(
    town: Town, hook: Hook
) -> None:
    configure(town, webhook(hook.url))
    landed(town, "hq-cv-1", "Made while nobody supervised")
    router = NotifyRouter(town)
    router.patrol()
    router.close()
    again = NotifyRouter(town)
    again.patrol()
    again.close()
    assert [p["body"]["event"] for p in hook.posts] == ["convoy_landed"]
    [marker] = (town.paths.runtime / "notify" / "sent").iterdir()
    assert json.loads(marker.read_text())["state"] == "done"


def test_per_event_filters_quiet_hours_and_ntfy(town: Town, hook: Hook) -> None:
    now = time.localtime(town.clock.now())
    start = f"{now.tm_hour:02d}:00"
    end = f"{(now.tm_hour + 1) % 24:02d}:00"
    configure(
        town,
        f"""
[notify]
events = ["convoy_landed", "escalation"]

[notify.sinks.only-waits]
type = "webhook"
url = "{hook.url}/waits"
events = ["waiting"]

[notify.sinks.phone]
type = "ntfy"
server = "{hook.url}/"
topic = "gt-test-topic"
token = "tk_secret"

[notify.sinks.asleep]
type = "webhook"
url = "{hook.url}/asleep"
quiet_hours = "{start}-{end}"
""",
    )
    router = NotifyRouter(town)
    router.patrol()
    landed(town, "hq-cv-9", "Salt flats mapped")
    town.events.append("witness.crash_loop", actor="alpha/witness", msg="not wanted here")
    actions = router.patrol()
    router.close()
    assert [p["path"] for p in hook.posts] == ["/"]  # ntfy publishes JSON to the server
    body = hook.posts[0]["body"]
    assert body["topic"] == "gt-test-topic" and "convoy landed" in body["title"]
    assert body["message"] == "hq-cv-9 Salt flats mapped"
    assert hook.posts[0]["headers"]["Authorization"] == "Bearer tk_secret"
    assert actions == ["notice convoy_landed (convoy landed) to phone; quiet hours for asleep"]


def test_a_failing_sink_is_retried_then_shown_and_never_blocks_a_patrol(
    town: Town, hook: Hook
) -> None:
    configure(town, webhook(hook.url))
    told: list[tuple[str, str]] = []
    router = NotifyRouter(town, notify=lambda text, severity: told.append((text, severity)))
    router.patrol()
    hook.status = 500
    landed(town, "hq-cv-1", "First")
    router.patrol()
    wait_until(
        lambda: any(e.type == "notify.failed" for e in town.events.iter_all()),
        what="the failure in the feed",
    )
    assert len(hook.posts) == 3  # the first try and `retries = 2` more
    [failed] = [e for e in town.events.iter_all() if e.type == "notify.failed"]
    assert "'chat' (webhook) failed for convoy_landed after 3 tries: HTTP 500" in failed.msg
    assert told == [(failed.msg, "error")]
    # A sink that hangs: the patrol hands the notice over and returns while the request waits.
    hook.status = 200
    hook.hang.set()
    hook.entered.clear()
    landed(town, "hq-cv-2", "Second")
    router.patrol()
    assert hook.entered.wait(10)
    assert not hook.release.is_set()  # the request is still held open: the patrol is done
    assert router.patrol() == []
    hook.release.set()
    router.close()
    assert hook.posts[-1]["body"]["message"] == "hq-cv-2 Second"


def test_budget_reached_and_escalations_are_told_once(
    rig_town: Town, hook: Hook, gt: GtRunner
) -> None:
    path = rig_town.paths.town_toml
    path.write_text(path.read_text().replace("max_tokens = 0 ", "max_tokens = 100 ", 1))
    configure(rig_town, webhook(hook.url))
    rig_town = Town.open(rig_town.root)  # the config as it is now
    router = NotifyRouter(rig_town)
    router.patrol()
    record_usage(rig_town, agent="alpha/nux", model="claude-sonnet-4-6", input_tokens=90,
                 output_tokens=20)  # fmt: skip
    proc = gt("escalate", "-s", "Need a key", "-m", "The vault is locked", agent="alpha/nux")
    assert proc.returncode == 0, proc.stderr
    router.patrol()
    router.patrol()
    router._budget_checked = 0.0  # the next budget check is due now
    router.patrol()
    router.close()
    events = sorted(p["body"]["event"] for p in hook.posts)
    assert events == ["budget_reached", "escalation"]
    escalation = next(p["body"] for p in hook.posts if p["body"]["event"] == "escalation")
    assert "alpha/nux" in escalation["text"] and "Need a key" in escalation["text"]


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[notify.sinks.x]\ntype = "webhook"\nurl = "ftp://example.com/x"\n', "not an http(s) URL"),
        ('[notify.sinks.x]\ntype = "webhook"\nurl = "file:///etc/passwd"\n', "not an http(s) URL"),
        ('[notify.sinks.x]\ntype = "ntfy"\nserver = "gopher://x"\ntopic = "t"\n', "http(s)"),
        ('[notify]\nevents = ["waiting", "lunch"]\n', "unknown event 'lunch'"),
        ('[notify.sinks.x]\ntype = "bell"\nevents = ["crashloop"]\n', "unknown event"),
        ('[notify]\nquiet_hours = "25:00-07:00"\n', "is not quiet hours"),
        ('[notify]\nquiet_hours = "22:00"\n', "is not quiet hours"),
        ('[notify.sinks.x]\ntype = "pager"\n', "is not a sink type"),
        ('[notify.sinks.x]\ntype = "ntfy"\ntopic = "has space"\n', "not an ntfy topic"),
        ("[notify]\nretries = -1\n", "retries"),
    ],
)
def test_bad_notify_config_is_one_line_exit_2(
    town: Town, gt: GtRunner, toml: str, words: str
) -> None:
    configure(town, toml)
    result = gt("status")
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "town.toml" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_town_without_notify_sinks_sends_nothing(town: Town, tmp_path: Path) -> None:
    router = NotifyRouter(town)
    landed(town, "hq-cv-1", "Quiet town")
    assert router.patrol() == []
    assert not (town.paths.runtime / "notify" / "sent").exists()


def test_gt_notify_list_and_test(town: Town, hook: Hook, gt: GtRunner) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/nobody"
    configure(
        town,
        webhook(hook.url)
        + f'\n[notify.sinks.gone]\ntype = "webhook"\nurl = "{dead}"\nevents = ["waiting"]\n',
    )
    listed = gt("notify", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"chat: webhook {hook.url}/hook; all events" in listed.stdout
    assert "gone: webhook" in listed.stdout and "; waiting" in listed.stdout
    result = gt("notify", "test", "--sink", "chat")
    assert result.returncode == 0 and result.stdout == "chat: sent\n", result.stderr
    assert (
        hook.posts[0]["body"]["text"] == "[testtown] test notice: gt notify test: this sink works"
    )
    result = gt("notify", "test")
    assert result.returncode == 1
    assert "gone: FAILED" in result.stderr and "chat: sent" in result.stdout
    result = gt("notify", "test", "--sink", "nope")
    assert result.returncode == 2 and "no sink named 'nope'" in result.stderr


CLAIM_AND_HANG = """
import sys, time
from gastown_tui.supervise.notify_route import NotifyRouter
from gastown_tui.town.town import Town
print(NotifyRouter(Town.open(sys.argv[1])).patrol(), flush=True)
time.sleep(120)
"""


def test_a_notice_claimed_by_a_supervisor_that_died_is_sent_once_by_another(
    town: Town, hook: Hook
) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    original = town.paths.town_toml.read_text()
    # Its sink refuses connections and it waits a long backoff: it dies holding the claim.
    configure(town, webhook(dead_url).replace('backoff = "0.05s"', 'backoff = "60s"'))
    landed(town, "hq-cv-7", "Claimed, never sent")
    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_HANG, str(town.root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert "notice convoy_landed" in proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    town.paths.town_toml.write_text(original)
    configure(town, webhook(hook.url))
    fresh = Town.open(town.root)
    routers = [NotifyRouter(fresh), NotifyRouter(fresh)]
    actions = [r.patrol() for r in routers]
    for router in routers:
        router.close()
    assert sorted(len(a) for a in actions) == [0, 1]
    assert next(a for a in actions if a)[0].endswith("(retaken)")
    assert [p["body"]["message"] for p in hook.posts] == ["hq-cv-7 Claimed, never sent"]


def test_desktop_sink_runs_notify_send_without_a_shell_or_says_it_is_missing(
    town: Town, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(town, '[notify.sinks.desk]\ntype = "desktop"\n')
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "argv.json"
    fake = bindir / "notify-send"  # a stand-in for libnotify's, recording its arguments
    recorder = tmp_path / "record_argv.py"
    recorder.write_text(
        f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    # Through sh: a `#!` line cannot hold an interpreter path with a space in it.
    fake.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(recorder))} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    router = NotifyRouter(town)
    router.patrol()
    town.events.append("witness.crash_loop", actor="alpha/witness", msg="$(touch pwned) died")
    router.patrol()
    router.close()
    argv = json.loads(record.read_text())
    assert argv[:4] == ["-a", "Gas Town", "-u", "critical"]
    assert argv[-1] == "$(touch pwned) died" and not (tmp_path / "pwned").exists()
    # Without notify-send the sink fails once (no retries can help) and says why.
    monkeypatch.setenv("PATH", "/nonexistent")
    router = NotifyRouter(town)
    router.patrol()
    town.events.append("witness.crash_loop", actor="alpha/witness", msg="again")
    router.patrol()
    router.close()
    [failed] = [e for e in town.events.iter_all() if e.type == "notify.failed"]
    assert "after 1 try: notify-send is not installed" in failed.msg
