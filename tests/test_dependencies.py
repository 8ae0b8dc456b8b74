"""Every package `bot/` imports is declared in pyproject.toml, not borrowed from another's."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.conftest import PROJECT_ROOT


def _imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for path in (PROJECT_ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != "bot"}


def _declared() -> set[str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = (
        re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]
        for spec in [
            *project["project"]["dependencies"],
            *project["project"]["optional-dependencies"].get("implement", []),
        ]
    )
    return {name.lower().replace("_", "-") for name in names}


def test_every_imported_package_is_declared() -> None:
    distributions = packages_distributions()
    declared = _declared()
    undeclared = {
        module: distributions.get(module)
        for module in _imported_top_level_modules()
        if not {d.lower().replace("_", "-") for d in distributions.get(module, [])} & declared
    }
    assert undeclared == {}
