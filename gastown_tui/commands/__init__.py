"""`gt` subcommands, one module per area. Keep module tops light: import work in handlers."""
