"""What the fakes of code forges (GitHub, GitLab) share: their branches live in a real bare git
repository, and every REST call they receive is recorded."""

import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from tests.fakes.loopback import LoopbackServer


@dataclass
class ForgeCall:
    """One request a forge fake received; each fake adds the credentials it reads."""

    method: str
    path: str  # as sent, still URL-encoded
    query: dict[str, list[str]]
    body: Any

    def first(self, name: str) -> str | None:
        """The first value of the query parameter `name`, if it was given."""
        return next(iter(self.query.get(name) or []), None)


CallT = TypeVar("CallT", bound=ForgeCall)


class ForgeFake(LoopbackServer, Generic[CallT]):
    """A forge's REST API on loopback for one repository whose branches live in `bare_repo`.

    ``create_delay_seconds`` makes the fake store what a create request asks for and then wait
    before answering, so a test can kill the client in between.
    """

    def __init__(self, *, bare_repo: Path, token: str, default_branch: str) -> None:
        super().__init__()
        self.bare_repo = bare_repo
        self.token = token
        self.default_branch = default_branch
        self.calls: list[CallT] = []
        self.create_delay_seconds = 0.0
        self._lock = threading.Lock()

    def calls_to(self, method: str, suffix: str) -> list[CallT]:
        """Calls with this method whose path (as sent) ends with `suffix`."""
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]

    def _record(self, call: CallT) -> None:
        with self._lock:
            self.calls.append(call)

    # git

    def branch_sha(self, branch: str) -> str | None:
        """The branch's commit in the bare repository."""
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"],
            cwd=self.bare_repo,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or None

    def commits_on(self, branch: str) -> list[str]:
        """Subjects of the branch's commits that the default branch lacks, newest first."""
        done = subprocess.run(
            ["git", "log", "--format=%s", f"{self.default_branch}..{branch}"],
            cwd=self.bare_repo,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split("\n")[:-1]
