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
MEMBERS = sorted(p.parent for pattern in ("services/*/pyproject.toml", "packages/*/pyproject.toml",
                                           "shared/*/pyproject.toml") for p in REPO.glob(pattern))


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


def namespace_owners() -> dict[str, str]:
    """`lanthanide.<x>` -> the distribution of the shared/ member that provides it (the
    `lanthanide` namespace is spread over several members)."""
    owners: dict[str, str] = {}
    for pyproject in REPO.glob("shared/*/pyproject.toml"):
        dist = tomllib.loads(pyproject.read_text())["project"]["name"]
        base = pyproject.parent / "src" / "lanthanide"
        for entry in base.iterdir() if base.is_dir() else ():
            if entry.name != "__pycache__" and (entry.suffix == ".py" or entry.is_dir()):
                owners[f"lanthanide.{entry.stem}"] = dist
    return owners


@pytest.mark.parametrize("member", MEMBERS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_lanthanide_module_it_imports_comes_from_a_declared_member(member: Path) -> None:
    owners = namespace_owners()
    assert owners.get("lanthanide.kafka") == "lanthanide-platform", "the layout moved, update this test"
    own = tomllib.loads((member / "pyproject.toml").read_text())["project"]["name"]
    allowed = declared(member) | {own}
    missing: dict[str, str] = {}
    for path in sorted((member / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module] + ([f"{node.module}.{a.name}" for a in node.names]
                                           if node.module == "lanthanide" else [])
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] != "lanthanide" or len(parts) < 2:
                    continue
                dist = owners.get(".".join(parts[:2]))
                if dist is not None and dist not in allowed:
                    missing.setdefault(dist, f"{path.relative_to(REPO)} ({module})")
    assert not missing, f"{member.relative_to(REPO)}/pyproject.toml does not declare {missing}"
