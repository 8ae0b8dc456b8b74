"""Confinement: every way out of the repository, or into what it hides, is refused by every tool."""

import os
from pathlib import Path

import pytest

from bot.repos import RepoMirror, RepoSet, RepoSpec, RepoTools
from bot.repos.confine import PathRefusedError, hidden_reason, normalise, open_no_follow
from tests.repos.support import write

# path → what the refusal says
REFUSED_READS = {
    "../upstream/README.md": "climbs with `..`",
    "src/../../outside/notes.txt": "climbs with `..`",
    "/etc/passwd": "absolute path",
    "~/.ssh/config": "absolute path",
    "outside_link.txt": "leads outside the repository through a symlink",
    "outside_dir/notes.txt": "leads outside the repository through a symlink",
    "parent_link/outside/notes.txt": "leads outside the repository through a symlink",
    ".git/config": "inside `.git/`",
    ".git/HEAD": "inside `.git/`",
    ".GIT/config": "inside `.git/`",
    ".env": "looks like a secrets file (it matches `.env`)",
    ".env.production": "matches `.env.*`",
    "env_link": "is a symlink to a path that is not shown",
    "secrets/id_rsa": "looks like a secrets file",
    "certs/server.pem": "matches `*.pem`",
    "deploy/id_ed25519.pub": "matches `id_ed25519*`",
    "config/credentials.json": "matches `credentials*.json`",
    "debug.log": "ignored by .gitignore",
    "build/out.txt": "ignored by .gitignore",
    "src/generated/schema.py": "ignored by .gitignore",
}

NEVER_SHOWN = (
    ".env",
    ".env.production",
    "env_link",
    "secrets/id_rsa",
    "certs/server.pem",
    "deploy/id_ed25519.pub",
    "config/credentials.json",
    "debug.log",
    "build/out.txt",
    "src/generated/schema.py",
    "outside_link.txt",
    "outside_dir/notes.txt",
    "parent_link/README.md",
)


@pytest.mark.parametrize(("path", "says"), REFUSED_READS.items())
def test_read_refuses(tools: RepoTools, path: str, says: str) -> None:
    result = tools.read_file(repo="demo", path=path)
    assert result.is_error, result.text
    assert says in result.text
    assert result.text.startswith("repo demo @ ")
    assert result.files == []
    for leaked in ("sk-live-hello", "sk-prod-hello", "hello from outside", "PRIVATE KEY", "[core]"):
        assert leaked not in result.text


def test_listing_shows_nothing_hidden(tools: RepoTools) -> None:
    listed = tools.list_files(repo="demo", limit=1000)
    assert not listed.is_error
    for path in NEVER_SHOWN:
        assert path not in listed.files
    assert not [path for path in listed.files if path.startswith(".git/")]
    assert "src/keep.log" in listed.files  # re-included by `!keep.log` in src/.gitignore
    assert ".github/workflows/ci.yml" in listed.files  # hidden folders are fine
    for pattern in (".env*", "**/.env", "secrets/**", ".git/**", "**/*.pem", "*.log", "build/**"):
        result = tools.list_files(repo="demo", pattern=pattern)
        assert [f for f in result.files if f != "src/keep.log"] == [], (pattern, result.text)


@pytest.mark.parametrize(
    "pattern",
    [
        "sk-live-hello",
        "sk-prod-hello",
        "PRIVATE KEY",
        "BEGIN CERTIFICATE",
        "hello from outside",
        "ignored",
        "repositoryformatversion",
        "AAAA hello",
        r'"token"',
    ],
)
def test_search_finds_nothing_hidden(tools: RepoTools, pattern: str) -> None:
    result = tools.search_code(repo="demo", pattern=pattern)
    assert not result.is_error
    assert "no matches" in result.text, result.text
    assert result.files == []


def test_search_results_never_name_hidden_files(tools: RepoTools) -> None:
    result = tools.search_code(repo="demo", pattern="hello", limit=500)
    assert result.files and not set(result.files) & set(NEVER_SHOWN)
    assert "src/keep.log" in result.files


def test_search_and_list_cannot_be_steered_outside_by_path_glob(tools: RepoTools) -> None:
    for glob in ("../**", "/etc/*", "outside_dir/**", "parent_link/**", ".git/*"):
        assert tools.search_code(repo="demo", pattern=".", path_glob=glob).files == []
        assert tools.list_files(repo="demo", pattern=glob).files == []


def test_a_symlink_inside_the_repository_may_be_read(tools: RepoTools) -> None:
    result = tools.read_file(repo="demo", path="readme_link.md")
    assert not result.is_error
    assert "hello from the demo repository" in result.text


def test_local_folder_with_untracked_secrets_and_ignored_files(tmp_path: Path, engine: str) -> None:
    folder = tmp_path / "work"
    write(folder, ".gitignore", "*.tmp\n")
    write(folder, "app.py", "print('hello')\n")
    write(folder, "cache.tmp", "hello from an ignored file\n")
    write(folder, ".env.local", "hello=secret\n")
    write(folder, "deploy/server.key", "hello key\n")
    write(folder, "Secrets.yaml", "hello: secret\n")
    write(folder, "ops/.docker/config.json", '{"auths": {"hello": {}}}\n')
    write(folder, ".kube/config", "hello: cluster token\n")
    tools = RepoTools(
        RepoSet([RepoMirror(RepoSpec(name="work", path=folder), tmp_path / "cache")]),
        use_ripgrep=engine == "ripgrep",
    )
    assert tools.list_files(repo="work").files == [".gitignore", "app.py"]
    assert tools.search_code(repo="work", pattern="hello").files == ["app.py"]
    for path in (
        "cache.tmp",
        ".env.local",
        "deploy/server.key",
        "Secrets.yaml",
        "ops/.docker/config.json",
        ".kube/config",
    ):
        assert tools.read_file(repo="work", path=path).is_error


@pytest.mark.parametrize(
    ("path", "clean"),
    [("src/app.py", "src/app.py"), ("./src//app.py", "src/app.py"), ("src/./app.py", "src/app.py")],
)
def test_normalise_keeps_harmless_forms(path: str, clean: str) -> None:
    assert normalise(path) == clean


@pytest.mark.parametrize("path", ["", ".", "..", "a/../b", "/abs", "C:\\x", "a\x00b"])
def test_normalise_refuses(path: str) -> None:
    with pytest.raises(PathRefusedError):
        normalise(path)


@pytest.mark.parametrize(
    "path",
    [
        "a/.git/x",
        ".git",
        "x/.env",
        "a/.envrc",
        "prod.env",
        "k/id_rsa.pub",
        "x/client_secret.json",
        ".npmrc",
        "home/.netrc",
        "infra/main.tfstate",
        "a/.ssh/known_hosts",
        "keys/api.KEY",
        ".docker/config.json",
        "deploy/.docker/config.json",
        ".kube/config",
        "ops/.kube/config",
    ],
)
def test_hidden_paths(path: str) -> None:
    assert hidden_reason(path) is not None


@pytest.mark.parametrize(
    "path",
    [
        "src/environment.py",
        "docs/keys.md",
        "envelope.txt",
        ".github/ci.yml",
        "a/.gitignore",
        "config.json",
        ".docker/php/Dockerfile",
        "src/config",
    ],
)
def test_ordinary_paths_are_not_hidden(path: str) -> None:
    assert hidden_reason(path) is None


def test_no_component_of_a_path_is_followed_when_opened(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root, "src/app.py", "print('inside')\n")
    write(tmp_path, "elsewhere/app.py", "print('outside')\n")
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with os.fdopen(open_no_follow(root=root, rel="src/app.py"), "rb") as handle:
        assert handle.read() == b"print('inside')\n"
    # A folder swapped for a symlink after the checks cannot lead the read elsewhere.
    with pytest.raises(OSError):
        open_no_follow(root=root, rel="linked/app.py")
    (root / "src" / "link.py").symlink_to(root / "src" / "app.py")
    with pytest.raises(OSError):
        open_no_follow(root=root, rel="src/link.py")
