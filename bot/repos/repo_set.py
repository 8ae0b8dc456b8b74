"""The configured repositories by name, and the fetch job that keeps the mirrors fresh."""

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from dotenv import dotenv_values

from bot.config import Settings
from bot.repos.spec import RepoSpec, parse_repo_specs
from bot.repos.sync import RepoMirror, RepoSyncError

log = logging.getLogger(__name__)


class RepoSet:
    """The repositories agents may read, in the order they were configured."""

    def __init__(self, mirrors: Iterable[RepoMirror]) -> None:
        self._mirrors = {mirror.name: mirror for mirror in mirrors}

    @classmethod
    def from_specs(
        cls,
        specs: Iterable[RepoSpec],
        *,
        cache_dir: Path,
        git_timeout: float = 300.0,
        environ: Mapping[str, str] | None = None,
    ) -> "RepoSet":
        """Mirrors for parsed REPOS entries, cloned into `cache_dir` on their first sync;
        tokens are looked up in `environ` (default: os.environ) at each fetch."""
        return cls(
            RepoMirror(spec, cache_dir, git_timeout=git_timeout, environ=environ) for spec in specs
        )

    @property
    def names(self) -> list[str]:
        """The repository names, as agents write them."""
        return list(self._mirrors)

    def get(self, name: str) -> RepoMirror | None:
        """The repository called `name`, if configured."""
        return self._mirrors.get(name)

    def __iter__(self) -> Iterator[RepoMirror]:
        return iter(self._mirrors.values())

    def __len__(self) -> int:
        return len(self._mirrors)

    def sync_all(self) -> dict[str, str | None]:
        """Fetch every repository now: name → None when fresh, or why it failed. Never raises."""
        outcome: dict[str, str | None] = {}
        for mirror in self:
            try:
                snapshot = mirror.sync()
            except RepoSyncError as error:
                outcome[mirror.name] = str(error)
            except Exception as error:  # a job must not die with one repository
                log.exception("syncing repo %s failed", mirror.name)
                outcome[mirror.name] = f"couldn't sync repo {mirror.name}: {error}"
            else:
                log.info("repo %s is at %s", mirror.name, snapshot.commit or "(no commit)")
                outcome[mirror.name] = None
        return outcome


def build_repo_set(settings: Settings) -> RepoSet:
    """The repositories agents may read (RepoConfigError names a bad REPOS entry)."""
    environ = {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
    return RepoSet.from_specs(
        parse_repo_specs(settings.repos),
        cache_dir=settings.repos_cache_dir,
        git_timeout=settings.repos_git_timeout_seconds,
        environ=environ,
    )
