"""The files a repository shows, found in Python: the fallback when ripgrep is missing."""

import os
from pathlib import Path

from bot.repos.confine import hidden_path
from bot.repos.ignore import IgnoreRules, Rules, matches


def walk_visible_files(root: Path) -> list[str]:
    """Regular files that are not ignored, hidden or behind a symlink, in tree order.

    Tree order sorts each folder's entries by name, as `rg --sort path` does.
    """
    found: list[str] = []
    _walk(root, "", [], IgnoreRules(root), found)
    return found


def tree_order(path: str) -> list[str]:
    """Sort key putting paths in tree order (`a/b` before `a-b`, like ripgrep)."""
    return path.split("/")


def _walk(
    root: Path, folder: str, active: list[Rules], rules: IgnoreRules, found: list[str]
) -> None:
    spec = rules.rules_in(folder)
    if spec is not None:
        active = [*active, (folder, spec)]
    try:
        with os.scandir(root / folder if folder else root) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        rel = f"{folder}/{entry.name}" if folder else entry.name
        if hidden_path(rel) or entry.is_symlink():
            continue
        if entry.is_dir(follow_symlinks=False):
            if not matches(active, rel, is_dir=True):
                _walk(root, rel, active, rules, found)
        elif entry.is_file(follow_symlinks=False) and not matches(active, rel, is_dir=False):
            found.append(rel)
