from gastown_tui.cli import main

raise SystemExit(main())
