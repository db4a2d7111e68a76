"""What any front end of a town shows and does, without Textual (a contract in pyproject.toml
says so): the app uses it, and so can a web view, the mayor's tools or a formula runner.

- `rows`: the frozen records a front end shows (PolecatRow, BeadRow, MailRow, snapshots).
- `queries`: `TownQueries`, the reads (rigs, polecats from tmux, convoys, mail, events, panes).
- `actions`: `TownData`, the reads plus the writes (sling, nudge, answer, mail, convoys).
- `problems`: `find_problems`, what needs a person, from rows already loaded.
- `changes`: what a change in the town means (`rig:alpha`, `events`...), from the storage
  backend's change feed (town/storage/).
- `ledger`: `RigsLedger`, the rigs' rows kept up to date rig by rig (a write re-reads its rig
  and rebuilds only the rows whose beads changed).
"""
