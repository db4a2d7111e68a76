"""Gas Town TUI: run a town of AI agents from one keyboard-driven screen."""

__version__ = "0.1.0"
