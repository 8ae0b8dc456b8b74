"""A run's git worktree: made from the repository's mirror on the conversation's branch,
committed (only the change: no caches, nothing that looks like a secret or a database), pushed
with the token only in git's environment, and removed at the end.

The worktree stays on a detached HEAD: the branch exists only on the remote, so the mirror's
own checkout (the default branch the agents read) is never touched.
"""

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.implement.leaks import unsafe_file
from bot.implement.targets import RepoTarget
from bot.repos.git import GitError, HttpAuth, run_git
from bot.repos.sync import RepoMirror

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_AUTHOR = ("-c", "user.name=agentdesk", "-c", "user.email=agentdesk@users.noreply.github.com")
_HELPER_DIR = ".claude"  # Claude Code's own session files in the working folder


@dataclass(frozen=True)
class Worktree:
    """A checked-out folder for one run."""

    path: Path
    branch: str
    base_branch: str
    start_commit: str  # where this run started (the branch's tip, or the base for a new one)
    base_commit: str
    branch_existed: bool
    had_helper_dir: bool


@dataclass(frozen=True)
class DiffSummary:
    """What a run's commits change, against the base branch."""

    files: list[tuple[str, int, int]]  # path, lines added, lines removed
    commits: int

    @property
    def short(self) -> str:
        """`3 files changed, +40 −2` with the files named."""
        added = sum(a for _, a, _ in self.files)
        removed = sum(r for _, _, r in self.files)
        names = ", ".join(f"`{path}`" for path, _, _ in self.files[:8])
        more = f" and {len(self.files) - 8} more" if len(self.files) > 8 else ""
        count = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        return f"{count} changed (+{added} −{removed}): {names}{more}"


def _lock_for(root: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(root, threading.Lock())


def auth_for(target: RepoTarget) -> HttpAuth | None:
    """The push credentials: a header scoped to the remote's origin, never in the URL."""
    token = target.token()
    if token is None or not target.url.startswith(("https://", "http://")):
        return None
    return HttpAuth.for_url(target.url, token)


def create_worktree(
    *, mirror: RepoMirror, target: RepoTarget, branch: str, folder: Path, timeout: float
) -> Worktree:
    """Fetch the mirror, then check out the branch's tip (or the base, for a new branch)."""
    snapshot = mirror.sync()
    root = snapshot.root
    auth = auth_for(target)
    with _lock_for(root):
        base_commit = run_git(["rev-parse", "HEAD"], cwd=root, timeout=timeout).strip()
        remote = run_git(
            ["ls-remote", "--heads", target.url, f"refs/heads/{branch}"],
            cwd=root,
            timeout=timeout,
            auth=auth,
        ).strip()
        start = base_commit
        if remote:
            local_ref = f"refs/agentdesk/{branch}"
            run_git(
                ["fetch", "--no-tags", "--quiet", target.url, f"+refs/heads/{branch}:{local_ref}"],
                cwd=root,
                timeout=timeout,
                auth=auth,
            )
            start = run_git(["rev-parse", local_ref], cwd=root, timeout=timeout).strip()
        remove_worktree(mirror_root=root, path=folder, timeout=timeout)
        folder.parent.mkdir(parents=True, exist_ok=True)
        run_git(
            ["worktree", "add", "--detach", "--quiet", str(folder), start],
            cwd=root,
            timeout=timeout,
        )
    return Worktree(
        path=folder,
        branch=branch,
        base_branch=snapshot.branch or "main",
        start_commit=start,
        base_commit=base_commit,
        branch_existed=bool(remote),
        had_helper_dir=(folder / _HELPER_DIR).exists(),
    )


@dataclass(frozen=True)
class Commit:
    """What a commit of the run's work took in, and what it left out."""

    made: bool  # False: nothing to commit
    withheld: list[tuple[str, str]]  # path, why it was left out


def commit_all(*, worktree: Worktree, message: str, excludes_file: Path, timeout: float) -> Commit:
    """Commit the change: the repository's `.gitignore` and the run's ignore list hold, and
    files that look like secrets or databases are left out (`withheld`)."""
    if not worktree.had_helper_dir:
        shutil.rmtree(worktree.path / _HELPER_DIR, ignore_errors=True)
    ignore = ("-c", f"core.excludesFile={excludes_file}")
    run_git([*ignore, "add", "--all", "--", "."], cwd=worktree.path, timeout=timeout)
    staged = run_git(
        ["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"],
        cwd=worktree.path,
        timeout=timeout,
    )
    withheld = [
        (path, reason)
        for path in staged.split("\0")
        if path and (reason := unsafe_file(worktree.path / path)) is not None
    ]
    for path, _ in withheld:
        run_git(["reset", "--quiet", "--", path], cwd=worktree.path, timeout=timeout)
    if not run_git(["diff", "--cached", "--name-only"], cwd=worktree.path, timeout=timeout).strip():
        return Commit(made=False, withheld=withheld)
    run_git(
        [*_AUTHOR, "commit", "--quiet", "--no-verify", "-m", message],
        cwd=worktree.path,
        timeout=timeout,
    )
    return Commit(made=True, withheld=withheld)


def added_text(*, worktree: Worktree, since: str, timeout: float) -> Iterator[tuple[str, str]]:
    """What the commits since `since` add, file by file (binary files as text), then their
    messages (as `commit message`): everything a push would publish."""
    diff = run_git(
        ["diff", "--text", "--unified=0", "--no-color", "--no-ext-diff", f"{since}..HEAD"],
        cwd=worktree.path,
        timeout=timeout,
    )
    path, lines = "", list[str]()
    for line in diff.splitlines():
        if line.startswith("+++ "):
            if lines:
                yield path, "\n".join(lines)
            path, lines = line[4:].removeprefix("b/"), []
        elif line.startswith("+"):
            lines.append(line[1:])
    if lines:
        yield path, "\n".join(lines)
    messages = run_git(["log", "--format=%B", f"{since}..HEAD"], cwd=worktree.path, timeout=timeout)
    yield "commit message", messages


def head_commit(*, worktree: Worktree, timeout: float) -> str:
    """The worktree's HEAD commit."""
    return run_git(["rev-parse", "HEAD"], cwd=worktree.path, timeout=timeout).strip()


def diff_summary(*, worktree: Worktree, since: str, timeout: float) -> DiffSummary:
    """Files changed and commits made since `since` (a commit)."""
    numstat = run_git(["diff", "--numstat", f"{since}..HEAD"], cwd=worktree.path, timeout=timeout)
    files = []
    for line in numstat.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            added, removed, path = parts
            files.append(
                (
                    path,
                    int(added) if added.isdigit() else 0,
                    int(removed) if removed.isdigit() else 0,
                )
            )
    commits = run_git(
        ["rev-list", "--count", f"{since}..HEAD"], cwd=worktree.path, timeout=timeout
    ).strip()
    return DiffSummary(files=files, commits=int(commits or 0))


def push(*, worktree: Worktree, target: RepoTarget, timeout: float) -> None:
    """Push HEAD to the conversation's branch; the token travels only in git's environment."""
    run_git(
        ["push", "--quiet", target.url, f"HEAD:refs/heads/{worktree.branch}"],
        cwd=worktree.path,
        timeout=timeout,
        auth=auth_for(target),
    )


def remove_worktree(*, mirror_root: Path, path: Path, timeout: float) -> None:
    """Remove a run's worktree (and what a crash left of one)."""
    if path.exists():
        try:
            run_git(["worktree", "remove", "--force", str(path)], cwd=mirror_root, timeout=timeout)
        except GitError:
            shutil.rmtree(path, ignore_errors=True)
    run_git(["worktree", "prune"], cwd=mirror_root, timeout=timeout, check=False)
