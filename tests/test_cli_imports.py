"""The command line loads only what a command needs (see bench/cli_speed.py for the times)."""

import subprocess
import sys

HEAVY = ("anthropic", "sqlalchemy", "sqlmodel", "slack_bolt", "slack_sdk", "bm25s", "numpy")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('LOADED:', *(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    marker = next(line for line in result.stdout.splitlines() if line.startswith("LOADED:"))
    return marker.split()[1:]


def test_help_loads_no_heavy_library() -> None:
    code = "from bot.cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


def test_local_routing_does_not_load_the_model_sdk_or_the_database() -> None:
    code = (
        "from bot.cli.main import app\n"
        "try:\n    app(['route', '--local-only', 'add oauth login'])\n"
        "except SystemExit:\n    pass"
    )
    assert set(_loaded_after(code)) == {"bm25s", "numpy"}
