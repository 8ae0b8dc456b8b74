"""The terminal every command prints to (rich, imported when a command first prints)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def terminal() -> "Console":
    """A rich console on standard output."""
    from rich.console import Console

    return Console()
