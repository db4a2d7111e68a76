"""A stand-in agent program for `gt answer` tests: it shows a recorded prompt screen, puts its
terminal in raw mode like Claude Code does, and records every byte typed at it. After the
first key it shows a second screen (by default the same question about another command), as a
real program does when the next tool call needs permission.

usage: prompt_program.py SCREEN RECORD [NEXT_SCREEN]

With PROMPT_CHOICES_AFTER=FILE it first draws the question alone, and its choices once FILE
exists (a program that draws its question a moment before its choices).
"""

from __future__ import annotations

import os
import sys
import termios
import time
import tty


def main() -> int:
    screen, record = sys.argv[1], sys.argv[2]
    following = sys.argv[3] if len(sys.argv) > 3 else None
    with open(screen, encoding="utf-8") as handle:
        text = handle.read()
    trigger = os.environ.get("PROMPT_CHOICES_AFTER")  # a file: the choices wait for it
    if trigger:
        shown = text[: text.index(" 1. ")].rsplit("\n", 1)[0]  # the question, no choices
        sys.stdout.write("\x1b[2J\x1b[H" + shown)
        sys.stdout.flush()
        while not os.path.exists(trigger):
            time.sleep(0.01)
    sys.stdout.write("\x1b[2J\x1b[H" + text)
    sys.stdout.flush()
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    shown_next = False
    try:
        while True:
            data = os.read(fd, 64)
            if not data:
                return 0
            with open(record, "ab") as out:
                out.write(data)
            if not shown_next:
                shown_next = True
                text = "answered\r\n"
                if following:
                    with open(following, encoding="utf-8") as handle:
                        text = handle.read().replace("\n", "\r\n")
                os.write(1, ("\x1b[2J\x1b[H" + text).encode())
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    sys.exit(main())
