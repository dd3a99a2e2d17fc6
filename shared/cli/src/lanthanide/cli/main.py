"""Moved: the command line is the lanthanide-cli distribution (package lanthanide_cli).

Kept so `python -m lanthanide.cli.main ...` (older scripts) still runs `lanthanide ...`; the
contracts library itself imports neither the CLI nor any service.
"""

if __name__ == "__main__":
    from lanthanide_cli.main import main

    main()
