"""`.gitignore` handling agrees with git itself, and the secret check with its pattern list."""

import fnmatch
import subprocess
from pathlib import Path

import pytest

from bot.repos.confine import SECRET_PATTERNS, hidden_path
from bot.repos.ignore import IgnoreRules
from bot.repos.walk import walk_visible_files
from tests.repos.support import git, write

GITIGNORES = {
    ".gitignore": "*.log\n!important.log\n/root-only.txt\nbuild/\ndocs/**/draft-*\n*.py[co]\n",
    "pkg/.gitignore": "generated/\n!keep.log\n*.txt\n!readme.txt\n",
    "pkg/deep/.gitignore": "!*.txt\nsecret-notes.md\n",
}
FILES = (
    "a.log",
    "important.log",
    "root-only.txt",
    "sub/root-only.txt",
    "build/x.py",
    "src/build/y.py",
    "docs/draft-1.md",
    "docs/2024/draft-2.md",
    "docs/final.md",
    "mod.pyc",
    "mod.py",
    "pkg/a.txt",
    "pkg/readme.txt",
    "pkg/keep.log",
    "pkg/other.log",
    "pkg/generated/g.py",
    "pkg/deep/b.txt",
    "pkg/deep/secret-notes.md",
    "pkg/deep/c.md",
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for rel, text in GITIGNORES.items():
        write(root, rel, text)
    for rel in FILES:
        write(root, rel, "x\n")
    git("init", "--quiet", cwd=root)
    return root


def _git_ignored(root: Path) -> set[str]:
    done = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        cwd=root,
        input="\n".join(FILES),
        capture_output=True,
        text=True,
        check=False,
    )
    return set(done.stdout.split())


def test_is_ignored_agrees_with_git(tree: Path) -> None:
    rules = IgnoreRules(tree)
    ours = {rel for rel in FILES if rules.is_ignored(rel, is_dir=False)}
    assert ours == _git_ignored(tree)


def test_the_walk_shows_what_git_does_not_ignore(tree: Path) -> None:
    expected = {rel for rel in FILES if rel not in _git_ignored(tree)} | set(GITIGNORES)
    expected = {rel for rel in expected if not hidden_path(rel)}
    assert set(walk_visible_files(tree)) == expected


NAMES = (
    ".env",
    ".ENV",
    ".env.local",
    "prod.env",
    ".envrc",
    "environment.py",
    "envelope.txt",
    "server.pem",
    "tls.key",
    "keys.md",
    "monkey",
    "a.p12",
    "b.pfx",
    "c.jks",
    "d.keystore",
    "e.ppk",
    "f.kdbx",
    "id_rsa",
    "id_rsa.pub",
    "id_ed25519",
    "my_id_rsa",
    ".ssh",
    ".gnupg",
    "credentials",
    "credentials.json",
    "credentials-prod.json",
    "credentials.yaml",
    "service-account-ci.json",
    ".npmrc",
    ".pypirc",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    ".dockercfg",
    "main.tfstate",
    "main.tfstate.backup",
    "prod.tfvars",
    "client_secret.json",
    "Secrets.yaml",
    "secretary.py",
    ".git",
    ".gitignore",
    ".github",
    "README.md",
    "app.py",
)


@pytest.mark.parametrize("name", NAMES)
def test_the_fast_secret_check_follows_the_pattern_list(name: str) -> None:
    lowered = name.lower()
    expected = lowered == ".git" or any(fnmatch.fnmatchcase(lowered, p) for p in SECRET_PATTERNS)
    assert hidden_path(name) is expected
    assert hidden_path(f"some/folder/{name}") is expected
    assert hidden_path(f"{name}/inside.txt") is expected
