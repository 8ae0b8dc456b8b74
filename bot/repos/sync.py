"""Keeping one repository readable: a local folder in place, or a private mirror of a git URL.

A mirror is a shallow, single-branch clone in `cache_dir/<name>`. Each `sync()` fetches the
followed branch (the remote's default branch unless one is named) and moves the checkout to
the fetched commit, dropping anything else in the tree. A failed fetch leaves the last good
checkout in place and raises RepoSyncError with a readable reason.
"""

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.repos.git import GitError, HttpAuth, run_git
from bot.repos.locking import ReadWriteLock, exclusive_across_processes
from bot.repos.spec import RepoSpec

log = logging.getLogger(__name__)

SYNC_MARK = "agentdesk-synced-at"  # in the mirror's .git/, for a restart to know the age


class RepoSyncError(Exception):
    """A clone or fetch failed; the message says why and holds no token."""


class RepoUnavailableError(Exception):
    """The repository cannot be read right now (never synced, or its folder is gone)."""


@dataclass(frozen=True)
class RepoSnapshot:
    """What a tool call reads: a folder, and the commit and time it stands for."""

    name: str
    root: Path
    commit: str | None
    branch: str | None
    synced_at: datetime | None
    mirrored: bool

    @property
    def header(self) -> str:
        """`repo api @ 1a2b3c4d5e6f (main, fetched 2025-06-02 09:30 UTC)`: where results come from."""
        where = f"repo {self.name} @ {self.commit[:12]}" if self.commit else f"repo {self.name}"
        notes = [self.branch] if self.branch and self.branch != "HEAD" else []
        if self.mirrored and self.synced_at is not None:
            notes.append(f"fetched {self.synced_at:%Y-%m-%d %H:%M} UTC")
        elif not self.mirrored:
            notes.append("local folder" if self.commit else "local folder, not a git checkout")
        return f"{where} ({', '.join(notes)})" if notes else where


@dataclass(frozen=True)
class _Checkout:
    commit: str
    branch: str | None
    synced_at: datetime | None


_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("could not read username", "authentication failed", "error: 401", "error: 403"),
        "the server refused access: check the token{token}",
    ),
    (("repository not found", "does not appear to be a git repository"), "check the URL"),
    (
        ("could not resolve host", "connection refused", "timed out"),
        "check the network and the URL",
    ),
    (("remote branch", "couldn't find remote ref"), "check the branch name after `#`"),
    (("host key verification failed", "permission denied (publickey)"), "check the ssh key"),
)


def _hint(error: str, spec: RepoSpec) -> str:
    """A short `(what to check)` for errors a person can fix in the settings."""
    lowered = error.lower()
    token = f" in {spec.token_env}" if spec.token_env else " (add one with `@VARIABLE` in REPOS)"
    for needles, hint in _HINTS:
        if any(needle in lowered for needle in needles):
            return f" ({hint.format(token=token)})"
    return ""


class RepoMirror:
    """One configured repository, readable by many threads while a sync runs."""

    def __init__(
        self,
        spec: RepoSpec,
        cache_dir: Path,
        *,
        git_timeout: float = 300.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`environ` is where tokens are looked up at each fetch (default: os.environ)."""
        self.spec = spec
        self.cache_dir = cache_dir.expanduser().resolve()
        self.git_timeout = git_timeout
        self.environ = environ
        self.last_error: str | None = None
        self._sync_lock = threading.Lock()
        locks = self.cache_dir / ".locks"
        self._sync_lock_file = locks / f"{spec.name}.sync"
        self._tree_lock = ReadWriteLock(lock_file=locks / f"{spec.name}.tree")
        self._checkout: _Checkout | None = None

    @property
    def name(self) -> str:
        """The name agents use for the repository."""
        return self.spec.name

    @property
    def root(self) -> Path:
        """The folder the tools read."""
        if self.spec.url is None:
            assert self.spec.path is not None
            return self.spec.path.expanduser().resolve()
        return self.cache_dir / self.spec.name

    @property
    def synced_at(self) -> datetime | None:
        """When the mirror last fetched successfully (None for a local folder or before)."""
        checkout = self._checkout
        return checkout.synced_at if checkout else None

    def commit(self) -> str | None:
        """The commit the tools read (None for a folder that is not a git checkout)."""
        if self.spec.url is None:
            return self._local_head()[0]
        checkout = self._adopt()
        return checkout.commit if checkout else None

    def sync(self) -> RepoSnapshot:
        """Clone or fetch now; RepoSyncError (the last good checkout kept) when that fails."""
        lock_file = self._sync_lock_file if self.spec.url else None  # a local folder: no cache
        with exclusive_across_processes(lock=self._sync_lock, lock_file=lock_file):
            if self.spec.url is None:
                self._check_local_folder(RepoSyncError)
            else:
                try:
                    self._sync_mirror(self.spec.url)
                except (GitError, OSError) as error:
                    self.last_error = (
                        f"couldn't fetch repo {self.name} from {self.spec.url}: {error}"
                        + _hint(str(error), self.spec)
                    )
                    log.warning("%s", self.last_error)
                    raise RepoSyncError(self.last_error) from None
            self.last_error = None
        with self.reading() as snapshot:
            return snapshot

    @contextmanager
    def reading(self) -> Iterator[RepoSnapshot]:
        """Hold the tree still for a tool call; RepoUnavailableError when there is none yet."""
        if self.spec.url is None:
            root = self._check_local_folder(RepoUnavailableError)
            commit, branch = self._local_head()
            yield RepoSnapshot(
                name=self.name,
                root=root,
                commit=commit,
                branch=branch,
                synced_at=None,
                mirrored=False,
            )
            return
        with self._tree_lock.reading():
            checkout = self._adopt()
            if checkout is None:
                reason = f": {self.last_error}" if self.last_error else " yet"
                raise RepoUnavailableError(f"repo {self.name} has not been fetched{reason}")
            yield RepoSnapshot(
                name=self.name,
                root=self.root,
                commit=checkout.commit,
                branch=checkout.branch,
                synced_at=checkout.synced_at,
                mirrored=True,
            )

    # Local folders

    def _check_local_folder(self, error: type[Exception]) -> Path:
        root = self.root
        if not root.is_dir():
            raise error(f"repo {self.name}: the folder {root} does not exist (check REPOS)")
        return root

    def _local_head(self) -> tuple[str | None, str | None]:
        """HEAD's commit and branch of a local folder, read fresh (it may change any time)."""
        root = self.root
        try:
            out = run_git(
                ["-c", "safe.directory=*", "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
                cwd=root,
                timeout=10,
            )
        except (GitError, OSError):
            return None, None
        lines = out.split()
        return (lines[0], lines[1]) if len(lines) == 2 else (None, None)

    # Mirrors

    def _sync_mirror(self, url: str) -> None:
        auth = self._auth(url)
        if self._is_clone_of(url):
            self._fetch(auth)
        else:
            self._clone(url, auth)
        root = self.root
        commit = run_git(["rev-parse", "HEAD"], cwd=root, timeout=self.git_timeout).strip()
        branch = self.spec.branch or self._branch_of(root)
        synced_at = datetime.now(UTC)
        (root / ".git" / SYNC_MARK).write_text(synced_at.isoformat(), encoding="utf-8")
        self._checkout = _Checkout(commit=commit, branch=branch, synced_at=synced_at)

    def _auth(self, url: str) -> HttpAuth | None:
        variable = self.spec.token_env
        if variable is None or url.startswith("file:"):
            return None
        environ = os.environ if self.environ is None else self.environ
        secret = environ.get(variable, "").strip()
        if not secret:
            raise GitError(f"the environment variable {variable} (its access token) is not set")
        return HttpAuth.for_url(url, secret)

    def _clone(self, url: str, auth: HttpAuth | None) -> None:
        """Clone beside the mirror, then swap it in: a failed clone leaves nothing behind."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.cache_dir.glob(f".{self.name}.clone-*"):  # from a clone cut short
            shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.name}.clone-", dir=self.cache_dir))
        try:
            args = ["clone", "--no-tags", "--single-branch", "--depth", "1", "--quiet"]
            if self.spec.branch:
                args += ["--branch", self.spec.branch]
            run_git(
                [*args, "--", url, str(staging)],
                cwd=self.cache_dir,
                timeout=self.git_timeout,
                auth=auth,
            )
            with self._tree_lock.writing():
                if self.root.exists():
                    shutil.rmtree(self.root)
                staging.rename(self.root)
                self._checkout = None
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _fetch(self, auth: HttpAuth | None) -> None:
        root = self.root
        ref = f"refs/heads/{self.spec.branch}" if self.spec.branch else "HEAD"
        run_git(
            ["fetch", "--no-tags", "--depth", "1", "--quiet", "origin", ref],
            cwd=root,
            timeout=self.git_timeout,
            auth=auth,
        )
        with self._tree_lock.writing():
            run_git(
                ["reset", "--hard", "--quiet", "FETCH_HEAD"], cwd=root, timeout=self.git_timeout
            )
            run_git(["clean", "-ffdxq"], cwd=root, timeout=self.git_timeout)

    def _is_clone_of(self, url: str) -> bool:
        if not (self.root / ".git").is_dir():
            return False
        try:
            origin = run_git(
                ["config", "--get", "remote.origin.url"], cwd=self.root, timeout=10
            ).strip()
            run_git(["rev-parse", "--verify", "--quiet", "HEAD"], cwd=self.root, timeout=10)
        except GitError:
            return False
        return origin == url

    def _branch_of(self, root: Path) -> str | None:
        out = run_git(
            ["symbolic-ref", "--quiet", "--short", "HEAD"], cwd=root, timeout=10, check=False
        )
        return out.strip() or None

    def _stamp(self) -> datetime | None:
        try:
            return datetime.fromisoformat(
                (self.root / ".git" / SYNC_MARK).read_text(encoding="utf-8").strip()
            )
        except (OSError, ValueError):
            return None

    def _adopt(self) -> _Checkout | None:
        """The checkout on disk: taken up from an earlier run, or from a fetch another
        process made (its sync mark changed), so every process reads what was last fetched."""
        url = self.spec.url
        if url is None:
            return self._checkout
        if self._checkout is not None and self._stamp() == self._checkout.synced_at:
            return self._checkout
        if not self._is_clone_of(url):
            return self._checkout
        root = self.root
        try:
            commit = run_git(["rev-parse", "HEAD"], cwd=root, timeout=10).strip()
            stamp = (root / ".git" / SYNC_MARK).read_text(encoding="utf-8").strip()
            synced_at: datetime | None = datetime.fromisoformat(stamp)
        except GitError:
            return None
        except (OSError, ValueError):
            synced_at = None
        self._checkout = _Checkout(commit, self.spec.branch or self._branch_of(root), synced_at)
        return self._checkout
