"""Dependencies point one way (docs/architecture.md, "Layers"): every module of `bot/` belongs
to a unit of the table below and imports only the units the table allows it."""

import ast
from pathlib import Path

from tests.conftest import PROJECT_ROOT

_KERNEL = {"bot.accounting", "bot.config"}
_SERVICES = {"bot.agents", "bot.llm", "bot.store", "bot.observability", *_KERNEL}
_ENGINE = {"bot.engine", "bot.routing", "bot.repos", *_SERVICES}
_ADAPTERS = {"bot.slack", "bot.shell", "bot.implement", *_ENGINE}

# Each unit (a package, or a module named apart), and the units it may import besides itself.
# Read top-down: commands, the composition root, the adapters, the engine, its services, the
# kernel. docs/architecture.md shows the same table.
ALLOWED: dict[str, set[str]] = {
    "bot": set(),  # the package itself (its docstring), not what lies in it
    "bot.__main__": {"bot.cli"},
    "bot.cli": {"bot.runtime", *_ADAPTERS},
    "bot.runtime": _ADAPTERS,
    "bot.slack": {
        "bot.implement",
        "bot.engine",
        "bot.routing",
        "bot.agents",
        "bot.observability",
        *_KERNEL,
    },
    "bot.slack.store_before_ack": {
        "bot.store",
        "bot.engine",
        "bot.routing",
        "bot.agents",
        *_KERNEL,
    },
    "bot.shell": {"bot.engine", "bot.agents", *_KERNEL},
    "bot.implement": {"bot.engine", "bot.repos", "bot.agents", "bot.llm", "bot.store", *_KERNEL},
    "bot.engine": _ENGINE - {"bot.engine"},
    "bot.routing": {"bot.agents", "bot.llm", *_KERNEL},
    "bot.repos": _KERNEL,
    "bot.agents": _KERNEL,
    "bot.llm": {"bot.observability", *_KERNEL},
    "bot.store": _KERNEL,
    "bot.observability": {"bot.accounting"},
    "bot.accounting": set(),
    "bot.config": {"bot.accounting"},
}


def unit_of(module: str) -> str | None:
    """The table's unit holding a module: the longest entry it is, or lies in."""
    matches = [u for u in ALLOWED if module == u or (u != "bot" and module.startswith(u + "."))]
    return max(matches, key=len, default=None)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def wrong_imports(root: Path) -> list[str]:
    """Every import under `root/bot` that the table does not allow."""
    wrong = []
    for path in sorted((root / "bot").rglob("*.py")):
        module = _module_name(path, root)
        unit = unit_of(module)
        if unit is None:
            wrong.append(f"{module} belongs to no unit of the table")
            continue
        for name in sorted(_imports(path)):
            target = unit_of(name) if name.startswith("bot.") else None
            if target is None or target == unit or _same_package(unit, target):
                continue
            if target not in ALLOWED[unit]:
                wrong.append(f"{module} ({unit}) imports {name} ({target})")
    return wrong


def _same_package(unit: str, target: str) -> bool:
    # a module named apart (bot.slack.store_before_ack) and its package may import each other
    return unit.startswith(target + ".") or target.startswith(unit + ".")


def test_every_module_imports_only_what_the_table_allows() -> None:
    assert wrong_imports(PROJECT_ROOT) == []


def test_the_table_has_no_cycle() -> None:
    def reaches(unit: str, seen: tuple[str, ...]) -> None:
        for target in ALLOWED[unit]:
            assert target not in seen, f"cycle: {' -> '.join((*seen, target))}"
            reaches(target, (*seen, target))

    for unit in ALLOWED:
        reaches(unit, (unit,))


def test_the_check_sees_a_wrong_import_and_a_module_outside_the_table(tmp_path: Path) -> None:
    (tmp_path / "bot" / "store").mkdir(parents=True)
    (tmp_path / "bot" / "store" / "rows.py").write_text("from bot.slack.render import x\n")
    (tmp_path / "bot" / "stray.py").write_text("import os\n")
    assert wrong_imports(tmp_path) == [
        "bot.store.rows (bot.store) imports bot.slack.render (bot.slack)",
        "bot.stray belongs to no unit of the table",
    ]


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
    path = PROJECT_ROOT / "bot/cli/conversations.py"
    assert _database_use(path) == []


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
        PROJECT_ROOT / "bot/runtime/health.py",
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
