"""`.gitignore` as git reads it, for trees searched without ripgrep.

Only `.gitignore` files inside the repository count (not the global excludes file, nor
`.git/info/exclude`), matching the ripgrep flags in `bot.repos.ripgrep`. A deeper
`.gitignore` takes precedence over a shallower one, the last matching line of a file wins,
and nothing under an ignored folder comes back, as in git.
"""

from pathlib import Path

from pathspec import GitIgnoreSpec

# One folder's rules: the folder (relative, "" for the root) and its compiled .gitignore.
Rules = tuple[str, GitIgnoreSpec]


class IgnoreRules:
    """The `.gitignore` files of one tree, read once each, on first need."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, GitIgnoreSpec | None] = {}

    def rules_in(self, folder: str) -> GitIgnoreSpec | None:
        """The compiled `.gitignore` of `folder` (relative), or None when it has none."""
        if folder not in self._specs:
            path = self.root / folder / ".gitignore" if folder else self.root / ".gitignore"
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:  # absent, a folder, unreadable: no rules
                self._specs[folder] = None
            else:
                self._specs[folder] = GitIgnoreSpec.from_lines(lines) if lines else None
        return self._specs[folder]

    def is_ignored(self, rel: str, *, is_dir: bool) -> bool:
        """Whether git ignores `rel`, counting ignored parent folders."""
        parts = rel.split("/")
        active: list[Rules] = []
        for depth in range(len(parts)):
            folder = "/".join(parts[:depth])
            spec = self.rules_in(folder)
            if spec is not None:
                active.append((folder, spec))
            last = depth == len(parts) - 1
            if matches(active, "/".join(parts[: depth + 1]), is_dir=is_dir if last else True):
                return True
        return False


def matches(active: list[Rules], rel: str, *, is_dir: bool) -> bool:
    """Whether the rules in force (shallowest first) ignore `rel`; the deepest decides."""
    for folder, spec in reversed(active):
        inner = rel[len(folder) + 1 :] if folder else rel
        result = spec.check_file(inner + "/" if is_dir else inner)
        if result.include is not None:
            return bool(result.include)
    return False
