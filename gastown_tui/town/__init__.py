"""The town core: models, storage, beads, events, mail and convoys. No textual, no tmux."""
