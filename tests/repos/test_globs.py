"""Glob patterns for list_files and path_glob."""

import pytest

from bot.repos.globs import GlobError, compile_glob


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.py", "app.py", True),
        ("*.py", "src/deep/app.py", True),
        ("*.py", "src/app.pyc", False),
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "src/a/app.py", False),
        ("src/**/*.py", "src/app.py", True),
        ("src/**/*.py", "src/a/b/app.py", True),
        ("src/**", "src/a/b", True),
        ("src/", "src/a/b", True),
        ("/README.md", "README.md", True),
        ("./docs/*.md", "docs/a.md", True),
        ("**/test_*.py", "tests/test_x.py", True),
        ("*.{ts,tsx}", "web/a.tsx", True),
        ("*.{ts,tsx}", "web/a.js", False),
        ("{src,lib}/**/{a,b}.rs", "lib/x/b.rs", True),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file/.txt", False),
        ("[!a]*.md", "b.md", True),
        ("[!a]*.md", "a.md", False),
        ("[a-c].md", "b.md", True),
        ("Dockerfile", "services/api/Dockerfile", True),
        ("**", "anything/at/all", True),
        ("a+b(c).txt", "a+b(c).txt", True),
        ("[unclosed", "[unclosed", True),
    ],
)
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert compile_glob(pattern)(path) is matches


def test_unbalanced_brace() -> None:
    with pytest.raises(GlobError, match="without its"):
        compile_glob("*.{py,txt")
