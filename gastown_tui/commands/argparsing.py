"""The argparse side of `gt` (cli.py): the parser class every command's parser is made with.

Its own module so that a line commands/quick.py reads never imports argparse.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn


class UsageError(Exception):
    """A command line argparse refused: shown on one line by `main` (exit 2)."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.prog = prog


def _columns() -> int:
    """What argparse's formatter asks `shutil.get_terminal_size` for, without importing
    shutil (and bz2, lzma, fnmatch with it: ~2 ms of every call, as argparse makes a
    formatter for each argument added)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class GtArgumentParser(argparse.ArgumentParser):
    """argparse prints the usage block and exits; we want one line naming the help to read.
    Sub-parsers are made with the parent's class, so every command gets this."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_columns() - 2)
