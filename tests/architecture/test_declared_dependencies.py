"""Every dependency is declared where it is used (issue 11 item 5): each workspace member's
pyproject names every third-party distribution its own source imports (directly, not through
another member), so a member installed alone has what it imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MEMBERS = sorted(p.parent for p in [*REPO.glob("services/*/pyproject.toml"), *REPO.glob("packages/*/pyproject.toml"),
                                    REPO / "shared" / "pyproject.toml"])


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared(member: Path) -> set[str]:
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    reqs = [*project.get("dependencies", []), *(r for extra in project.get("optional-dependencies", {}).values()
                                                 for r in extra)]
    return {_name(r) for r in reqs}


def imported(member: Path) -> dict[str, str]:
    """Third-party distribution -> one file of the member's source that imports it."""
    distributions = packages_distributions()
    out: dict[str, str] = {}
    for path in sorted((member / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top.startswith("lanthanide"):
                    continue
                dist = distributions.get(top, [top])[0].lower().replace("_", "-")
                out.setdefault(dist, str(path.relative_to(REPO)))
    return out


@pytest.mark.parametrize("member", MEMBERS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_import_is_declared_by_its_member(member: Path) -> None:
    missing = {dist: where for dist, where in imported(member).items() if dist not in declared(member)}
    assert not missing, f"{member.relative_to(REPO)}/pyproject.toml does not declare {missing}"
