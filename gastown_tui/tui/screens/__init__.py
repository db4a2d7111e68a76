"""tui screens."""
