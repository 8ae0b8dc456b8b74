"""Fixtures: an upstream repository made with real git, its mirror, and the tools over it."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.repos import RepoMirror, RepoSet, RepoSpec, RepoTools
from bot.repos.ripgrep import find_ripgrep
from tests.repos.support import make_upstream

ENGINES = ("ripgrep", "python")


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """git reads no user or system configuration of the machine running the tests."""
    _isolate(monkeypatch, tmp_path / "home")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    return tmp_path / "outside"


@pytest.fixture
def upstream(tmp_path: Path, outside: Path) -> Path:
    return make_upstream(tmp_path / "upstream", outside)


@pytest.fixture
def mirror(upstream: Path, tmp_path: Path) -> RepoMirror:
    """A fresh mirror of the upstream by URL, synced once (a clone), for tests that change it."""
    mirror = RepoMirror(RepoSpec(name="demo", url=upstream.as_uri()), tmp_path / "cache")
    mirror.sync()
    return mirror


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RepoMirror]:
    """One mirror of the fixture repository shared by a module's read-only tests."""
    base = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch, base / "home")
        upstream = make_upstream(base / "upstream", base / "outside")
        mirror = RepoMirror(RepoSpec(name="demo", url=upstream.as_uri()), base / "cache")
        mirror.sync()
        assert os.environ["HOME"] == str(base / "home")
    yield mirror


@pytest.fixture
def repos(demo: RepoMirror) -> RepoSet:
    return RepoSet([demo])


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "ripgrep" and find_ripgrep() is None:
        pytest.skip("ripgrep (rg) is not installed")
    return name


@pytest.fixture
def tools(repos: RepoSet, engine: str) -> RepoTools:
    return RepoTools(repos, use_ripgrep=engine == "ripgrep")
