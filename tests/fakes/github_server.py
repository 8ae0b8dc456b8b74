"""A fake of the GitHub REST API on loopback: the endpoints an implementation run uses, with
the real shapes, reading branches from a real (bare) git repository.

* ``GET /repos/{owner}/{repo}``: the repository.
* ``GET /repos/{owner}/{repo}/git/ref/heads/{branch}`` and ``…/git/refs/heads/{branch}``:
  a branch as the bare repository has it (404 ``Not Found`` when it doesn't).
* ``GET /repos/{owner}/{repo}/pulls?state=&head=OWNER:BRANCH&base=``: pulls, filtered.
* ``POST /repos/{owner}/{repo}/pulls``: create (422 ``Validation Failed`` when the head branch
  does not exist, or an open pull request for it does already).
* ``GET`` / ``PATCH /repos/{owner}/{repo}/pulls/{number}``.

Authentication is ``Authorization: token X`` or ``Bearer X`` with the configured token (401
``Bad credentials`` otherwise). ``create_delay_seconds`` makes ``POST …/pulls`` store the pull
request and then wait before answering, so a test can kill the client in between.
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.fakes.forge import ForgeCall, ForgeFake
from tests.fakes.loopback import LoopbackHandler

DOCS = "https://docs.github.com/rest"
_HEADERS = {
    "x-github-api-version-selected": "2022-11-28",
    "x-ratelimit-limit": "5000",
    "x-ratelimit-remaining": "4999",
}


@dataclass
class RecordedCall(ForgeCall):
    """One request the fake received."""

    authorization: str


class FakeGitHub(ForgeFake[RecordedCall]):
    """GitHub's REST API for one repository whose branches live in `bare_repo`."""

    def __init__(
        self, *, owner: str, repo: str, bare_repo: Path, token: str, default_branch: str = "main"
    ) -> None:
        super().__init__(bare_repo=bare_repo, token=token, default_branch=default_branch)
        self.owner = owner
        self.repo = repo
        self.pulls: list[dict[str, Any]] = []

    @property
    def api_url(self) -> str:
        return self.base_url

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    def open_pulls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p for p in self.pulls if p["state"] == "open"]

    # HTTP

    def _handle(self, request: LoopbackHandler) -> None:
        raw = request.read_body()
        path, query = request.path_and_query()
        body = json.loads(raw) if raw else None
        call = RecordedCall(
            request.command, path, query, body, request.headers.get("authorization", "")
        )
        self._record(call)
        status, payload = self._route(call)
        request.send_json(status, payload, _HEADERS, content_type="application/json; charset=utf-8")

    def _route(self, call: RecordedCall) -> tuple[int, Any]:
        scheme, _, given = call.authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer") or given != self.token:
            return 401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}
        prefix = f"/repos/{self.owner}/{self.repo}"
        path = unquote(call.path)
        if not path.startswith(prefix):
            return _not_found()
        rest = path[len(prefix) :]
        if rest == "" and call.method == "GET":
            return 200, self._repo_json()
        for ref_prefix in ("/git/ref/heads/", "/git/refs/heads/"):
            if rest.startswith(ref_prefix) and call.method == "GET":
                return self._ref(rest[len(ref_prefix) :])
        if rest == "/pulls" and call.method == "GET":
            return 200, self._list_pulls(call)
        if rest == "/pulls" and call.method == "POST":
            return self._create_pull(call.body or {})
        if rest.startswith("/pulls/") and rest[7:].isdigit():
            pull = next((p for p in self.pulls if p["number"] == int(rest[7:])), None)
            if pull is None:
                return _not_found()
            if call.method == "GET":
                return 200, pull
            if call.method == "PATCH":
                return self._update_pull(pull, call.body or {})
        return _not_found()

    def _repo_json(self) -> dict[str, Any]:
        base = f"{self.api_url}/repos/{self.full_name}"
        return {
            "id": 1296269,
            "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
            "name": self.repo,
            "full_name": self.full_name,
            "private": True,
            "owner": self._user(self.owner),
            "html_url": f"https://github.example/{self.full_name}",
            "description": "fixture",
            "fork": False,
            "url": base,
            "pulls_url": base + "/pulls{/number}",
            "git_refs_url": base + "/git/refs{/sha}",
            "default_branch": self.default_branch,
            "visibility": "private",
            "permissions": {"admin": False, "push": True, "pull": True},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "pushed_at": _now(),
        }

    def _user(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": 583231,
            "node_id": "MDQ6VXNlcjU4MzIzMQ==",
            "type": "Organization" if login == self.owner else "User",
            "url": f"{self.api_url}/users/{login}",
            "html_url": f"https://github.example/{login}",
            "site_admin": False,
        }

    def _ref(self, branch: str) -> tuple[int, Any]:
        sha = self.branch_sha(branch)
        if sha is None:
            return _not_found()
        return 200, {
            "ref": f"refs/heads/{branch}",
            "node_id": "MDM6UmVmcmVmcy9oZWFkcy9mZWF0dXJlQQ==",
            "url": f"{self.api_url}/repos/{self.full_name}/git/refs/heads/{branch}",
            "object": {
                "type": "commit",
                "sha": sha,
                "url": f"{self.api_url}/repos/{self.full_name}/git/commits/{sha}",
            },
        }

    def _list_pulls(self, call: RecordedCall) -> list[dict[str, Any]]:
        state = call.first("state") or "open"
        head, base = call.first("head"), call.first("base")
        with self._lock:
            pulls = [dict(p) for p in self.pulls]
        found = []
        for pull in pulls:
            if state != "all" and pull["state"] != state:
                continue
            if head and pull["head"]["label"] != head:
                continue
            if base and pull["base"]["ref"] != base:
                continue
            pull["head"] = {**pull["head"], "sha": self.branch_sha(pull["head"]["ref"])}
            found.append(pull)
        return found

    def _create_pull(self, body: dict[str, Any]) -> tuple[int, Any]:
        head, base = str(body.get("head") or ""), str(body.get("base") or "")
        branch = head.split(":", 1)[-1]
        if not body.get("title") or not head or not base:
            return _invalid({"resource": "PullRequest", "field": "title", "code": "missing_field"})
        head_sha = self.branch_sha(branch)
        if head_sha is None:
            return _invalid({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if self.branch_sha(base) is None:
            return _invalid({"resource": "PullRequest", "field": "base", "code": "invalid"})
        label = f"{self.owner}:{branch}"
        with self._lock:
            if any(p["head"]["label"] == label and p["state"] == "open" for p in self.pulls):
                return _invalid(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {label}.",
                    }
                )
            number = len(self.pulls) + 1
            pull = self._pull_json(number, body, branch, base, head_sha)
            self.pulls.append(pull)
        if self.create_delay_seconds:
            time.sleep(self.create_delay_seconds)
        return 201, pull

    def _update_pull(self, pull: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            for key in ("title", "body", "state", "base"):
                if key in body:
                    if key == "base":
                        pull["base"]["ref"] = body["base"]
                    else:
                        pull[key] = body[key]
            pull["updated_at"] = _now()
        return 200, pull

    def _pull_json(
        self, number: int, body: dict[str, Any], branch: str, base: str, head_sha: str
    ) -> dict[str, Any]:
        url = f"{self.api_url}/repos/{self.full_name}/pulls/{number}"
        html = f"https://github.example/{self.full_name}/pull/{number}"
        repo = self._repo_json()
        now = _now()
        return {
            "url": url,
            "id": 1000 + number,
            "node_id": f"PR_kwDOfake{number}",
            "html_url": html,
            "diff_url": html + ".diff",
            "patch_url": html + ".patch",
            "issue_url": f"{self.api_url}/repos/{self.full_name}/issues/{number}",
            "number": number,
            "state": "open",
            "locked": False,
            "title": body["title"],
            "user": self._user("agentdesk-bot"),
            "body": body.get("body"),
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "draft": bool(body.get("draft", False)),
            "head": {
                "label": f"{self.owner}:{branch}",
                "ref": branch,
                "sha": head_sha,
                "user": self._user(self.owner),
                "repo": repo,
            },
            "base": {
                "label": f"{self.owner}:{base}",
                "ref": base,
                "sha": self.branch_sha(base),
                "user": self._user(self.owner),
                "repo": repo,
            },
            "author_association": "CONTRIBUTOR",
            "merged": False,
            "mergeable": None,
            "comments": 0,
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found() -> tuple[int, Any]:
    return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}


def _invalid(error: dict[str, Any]) -> tuple[int, Any]:
    return 422, {
        "message": "Validation Failed",
        "errors": [error],
        "documentation_url": DOCS + "/pulls/pulls#create-a-pull-request",
        "status": "422",
    }


def iter_pull_bodies(fake: FakeGitHub) -> Iterator[str]:
    """The bodies of every pull request, in order."""
    for pull in fake.pulls:
        yield str(pull.get("body") or "")
