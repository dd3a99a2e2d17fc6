"""Service commands, found through the `lanthanide.cli` entry-point group.

A service adds commands to `lanthanide` without this package knowing it: its cli module defines a
`typer.Typer()` whose commands and sub-groups are merged into the root, and its pyproject names it:

    [project.entry-points."lanthanide.cli"]
    screening = "lanthanide_screening.cli:commands"

A sub-group whose name already exists (e.g. `reference`, which the core has) is merged command by
command, so several packages can add to one group. The entry point may also name a function
`register(app: typer.Typer) -> None`, called with the root before it is built.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import click
import typer

GROUP = "lanthanide.cli"


def service_entry_points() -> list[EntryPoint]:
    """The registered service command sets, in name order (stable --help listings)."""
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def load(points: Iterable[EntryPoint]) -> tuple[list[typer.Typer], list[Any]]:
    """Load each entry point; one that fails to import is reported on one line and skipped, so a
    broken or half-installed service never takes the whole command line down with it."""
    apps: list[typer.Typer] = []
    registrars: list[Any] = []
    for ep in points:
        try:
            obj = ep.load()
        except Exception as exc:  # an ImportError, or any error raised while importing the module
            print(f"warning: commands of {ep.name!r} ({ep.value}) not loaded: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            continue
        if isinstance(obj, typer.Typer):
            apps.append(obj)
        elif callable(obj):
            registrars.append(obj)
        else:
            print(f"warning: entry point {ep.name!r} is neither a typer.Typer nor a function; ignored",
                  file=sys.stderr)
    return apps, registrars


def merge(into: click.Group, extra: click.Group) -> None:
    """Add `extra`'s commands to `into`; groups of the same name are merged recursively, and a
    plain command never silently replaces another (the first one registered wins, with a warning)."""
    for name, command in extra.commands.items():
        existing = into.commands.get(name)
        if existing is None:
            into.add_command(command, name)
        elif isinstance(existing, click.Group) and isinstance(command, click.Group):
            merge(existing, command)
        else:
            print(f"warning: `{into.name} {name}` is defined twice; the second definition is ignored",
                  file=sys.stderr)
