"""Dependencies point one way (DESIGN.md's layers): each package imports only what it may."""

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

# A package, and the packages it must never import.
FORBIDDEN = {
    "bot/store": ("bot.slack", "bot.engine", "bot.llm", "bot.routing", "bot.shell"),
    "bot/llm": ("bot.slack", "bot.store", "bot.engine", "bot.routing"),
    "bot/routing": ("bot.slack", "bot.store", "bot.engine"),
    "bot/agents": ("bot.slack", "bot.store", "bot.engine", "bot.routing", "bot.llm"),
    "bot/engine": ("bot.slack", "bot.shell"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_or_beside_it(package: str) -> None:
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
        for name in sorted(_imports(path))
        if name.startswith(FORBIDDEN[package])
    ]
    assert wrong == []
