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


# What the engine may take from the database libraries: handles to pass to bot/store, never
# a way to build or run a query.
ENGINE_DATABASE_NAMES = {("sqlalchemy.engine", "Engine"), ("sqlmodel", "Session")}
QUERY_RUNNERS = {"exec", "execute", "scalar", "scalars", "query"}


def _database_use(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] in {"sqlalchemy", "sqlmodel"}
            ]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in {"sqlalchemy", "sqlmodel"}
        ):
            found += [
                f"from {node.module} import {alias.name}"
                for alias in node.names
                if (node.module, alias.name) not in ENGINE_DATABASE_NAMES
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_RUNNERS
        ):
            found.append(f"line {node.lineno} calls .{node.func.attr}(…)")
    return found


def test_the_engine_leaves_queries_to_the_store() -> None:
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)}: {use}"
        for path in sorted((PROJECT_ROOT / "bot/engine").rglob("*.py"))
        for use in _database_use(path)
    ]
    assert wrong == []


def test_the_check_sees_a_query(tmp_path: Path) -> None:
    source = tmp_path / "leaky.py"
    source.write_text(
        "import sqlalchemy as sa\nfrom sqlmodel import Session, col, select\n"
        "def f(session: Session) -> None:\n    session.exec(select(1))\n",
        encoding="utf-8",
    )
    assert _database_use(source) == [
        "import sqlalchemy",
        "from sqlmodel import col",
        "from sqlmodel import select",
        "line 4 calls .exec(…)",
    ]


def test_read_commands_leave_queries_to_the_store() -> None:
    path = PROJECT_ROOT / "bot/conversations_command.py"
    assert _database_use(path) == []


# The one adapter module still holding a table: it builds the raw event row it stores before
# the ack (issue 11 lists it with the other adapter queries).
ADAPTER_TABLE_USERS = {"bot/slack/inbound.py"}


def test_adapters_get_plain_data_not_tables() -> None:
    adapters = [*sorted((PROJECT_ROOT / "bot/slack").rglob("*.py")), PROJECT_ROOT / "bot/shell.py"]
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for path in adapters
        if str(path.relative_to(PROJECT_ROOT)) not in ADAPTER_TABLE_USERS
        for name in sorted(_imports(path))
        if name.startswith("bot.store")
    ]
    assert wrong == []


DESK_INSIDES = {"engine", "registry", "toolbox", "inbox", "outbox", "turns", "llm", "router"}
# Slack's OAuth installation and state stores are slack_sdk's SQLAlchemy stores: they take
# the database engine itself.
DESK_ENGINE_USERS = {"bot/slack/app.py"}


def _desk_insides(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"line {node.lineno}: desk.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in DESK_INSIDES
        and (
            (isinstance(node.value, ast.Name) and node.value.id == "desk")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "desk")
        )
    ]


def test_adapters_ask_the_desk_instead_of_reaching_into_it() -> None:
    adapters = [
        *sorted((PROJECT_ROOT / "bot/slack").rglob("*.py")),
        PROJECT_ROOT / "bot/shell.py",
        PROJECT_ROOT / "bot/health.py",
    ]
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)} {use}"
        for path in adapters
        for use in _desk_insides(path)
        if not (
            use.endswith("desk.engine") and str(path.relative_to(PROJECT_ROOT)) in DESK_ENGINE_USERS
        )
    ]
    assert wrong == []
