"""tui widgets."""
