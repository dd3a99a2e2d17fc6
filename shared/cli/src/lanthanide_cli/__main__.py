"""`python -m lanthanide_cli ...` is `lanthanide ...`."""

from lanthanide_cli.main import main

main()
