"""The `lanthanide` command line: core commands, plus the commands services register (entry points)."""
