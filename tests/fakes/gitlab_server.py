"""A fake of the GitLab REST API (v4) on loopback: the endpoints an implementation run uses,
at the paths and with the shapes python-gitlab reads, its branches in a real (bare) git
repository.

* ``GET /api/v4/projects/:id``: the project; ``:id`` is its number or its URL-encoded path
  (``group%2Fproject``), 404 ``404 Project Not Found`` otherwise.
* ``GET /api/v4/projects/:id/merge_requests?state=&source_branch=&target_branch=``: merge
  requests, filtered, newest first, with GitLab's pagination headers. A list entry leaves out
  what only a single merge request carries (``diff_refs``, ``changes_count``, ``user``, …).
* ``POST /api/v4/projects/:id/merge_requests``: create (400 ``title is missing`` without a
  required attribute, 422 when a branch does not exist, 409 when an open merge request for
  the source branch exists already). A title starting ``Draft:``, ``[Draft]`` or ``(Draft)``
  makes it a draft, as on GitLab.
* ``GET`` / ``PUT /api/v4/projects/:id/merge_requests/:iid``.

Authentication is the ``PRIVATE-TOKEN`` header with the configured token (401
``401 Unauthorized`` otherwise). ``create_delay_seconds`` makes ``POST …/merge_requests``
store the merge request and then wait before answering, so a test can kill the client in
between.
"""

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from tests.fakes.forge import ForgeCall, ForgeFake
from tests.fakes.loopback import LoopbackHandler

WEB = "https://gitlab.example"
_DRAFT_TITLE = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s+-)", re.IGNORECASE)
_STATE_EVENTS = {"close": "closed", "reopen": "opened"}


@dataclass
class RecordedCall(ForgeCall):
    """One request the fake received."""

    private_token: str


class FakeGitLab(ForgeFake[RecordedCall]):
    """GitLab's REST API for one project whose branches live in `bare_repo`."""

    http_methods = frozenset({"GET", "POST", "PUT", "DELETE"})

    def __init__(
        self,
        *,
        project_path: str,
        bare_repo: Path,
        token: str,
        default_branch: str = "main",
        project_id: int = 4242,
    ) -> None:
        super().__init__(bare_repo=bare_repo, token=token, default_branch=default_branch)
        self.project_path = project_path
        self.project_id = project_id
        self.merge_requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        """The instance's URL, as GITLAB_API_URL takes it (python-gitlab adds /api/v4)."""
        return self.base_url

    @property
    def encoded_path(self) -> str:
        """The project's path as a URL segment: `group%2Fproject`."""
        return quote(self.project_path, safe="")

    def open_merge_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.merge_requests if m["state"] == "opened"]

    # HTTP

    def _handle(self, request: LoopbackHandler) -> None:
        raw = request.read_body()
        path, query = request.path_and_query()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {key: values[-1] for key, values in parse_qs(raw.decode()).items()}
        call = RecordedCall(
            request.command, path, query, body, request.headers.get("private-token", "")
        )
        self._record(call)
        status, payload, headers = self._route(call)
        request.send_json(
            status,
            payload,
            {
                "cache-control": "max-age=0, private, must-revalidate",
                "x-request-id": f"01FAKE{len(self.calls):020d}",
                **headers,
            },
        )

    def _route(self, call: RecordedCall) -> tuple[int, Any, dict[str, str]]:
        if call.private_token != self.token:
            return 401, {"message": "401 Unauthorized"}, {}
        segments = call.path.split("/")  # the project's path is one encoded segment
        if segments[:4] != ["", "api", "v4", "projects"] or len(segments) < 5:
            return 404, {"error": "404 Not Found"}, {}
        given = unquote(segments[4])
        if given not in (self.project_path, str(self.project_id)):
            return 404, {"message": "404 Project Not Found"}, {}
        rest = [unquote(segment) for segment in segments[5:]]
        if rest == [] and call.method == "GET":
            return 200, self._project_json(), {}
        if rest == ["merge_requests"] and call.method == "GET":
            return self._list(call)
        if rest == ["merge_requests"] and call.method == "POST":
            status, payload = self._create(call.body or {})
            return status, payload, {}
        if len(rest) == 2 and rest[0] == "merge_requests" and rest[1].isdigit():
            found = next((m for m in self.merge_requests if m["iid"] == int(rest[1])), None)
            if found is None:
                return 404, {"message": "404 Not found"}, {}
            if call.method == "GET":
                return 200, self._single(found), {}
            if call.method == "PUT":
                return 200, self._update(found, call.body or {}), {}
        return 404, {"error": "404 Not Found"}, {}

    def _project_json(self) -> dict[str, Any]:
        group, _, name = self.project_path.rpartition("/")
        web = f"{WEB}/{self.project_path}"
        return {
            "id": self.project_id,
            "description": "fixture",
            "name": name,
            "name_with_namespace": f"{group.replace('/', ' / ')} / {name}",
            "path": name,
            "path_with_namespace": self.project_path,
            "created_at": "2026-01-01T00:00:00.000Z",
            "default_branch": self.default_branch,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@gitlab.example:{self.project_path}.git",
            "http_url_to_repo": f"{web}.git",
            "web_url": web,
            "readme_url": f"{web}/-/blob/{self.default_branch}/README.md",
            "forks_count": 0,
            "avatar_url": None,
            "star_count": 0,
            "last_activity_at": _now(),
            "namespace": {
                "id": 77,
                "name": group.rpartition("/")[2],
                "path": group.rpartition("/")[2],
                "kind": "group",
                "full_path": group,
                "parent_id": None,
                "avatar_url": None,
                "web_url": f"{WEB}/groups/{group}",
            },
            "visibility": "private",
            "merge_requests_enabled": True,
            "archived": False,
            "empty_repo": False,
        }

    def _list(self, call: RecordedCall) -> tuple[int, Any, dict[str, str]]:
        state = call.first("state") or "all"
        source, target = call.first("source_branch"), call.first("target_branch")
        per_page = int(call.first("per_page") or 20)
        page = int(call.first("page") or 1)
        with self._lock:
            found = [
                self._basic(m)
                for m in reversed(self.merge_requests)
                if (state == "all" or m["state"] == state)
                and (source is None or m["source_branch"] == source)
                and (target is None or m["target_branch"] == target)
            ]
        pages = max(1, -(-len(found) // per_page))
        shown = found[(page - 1) * per_page : page * per_page]

        def link(number: int) -> str:
            query = {**{k: v[-1] for k, v in call.query.items()}, "page": str(number)}
            return f"{self.url}{call.path}?{urlencode(query)}"

        headers = {
            "x-page": str(page),
            "x-per-page": str(per_page),
            "x-total": str(len(found)),
            "x-total-pages": str(pages),
            "x-next-page": str(page + 1) if page < pages else "",
            "x-prev-page": str(page - 1) if page > 1 else "",
            "link": ", ".join(
                [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
                + ([f'<{link(page + 1)}>; rel="next"'] if page < pages else [])
            ),
        }
        return 200, shown, headers

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        missing = [k for k in ("source_branch", "target_branch", "title") if not body.get(k)]
        if missing:
            return 400, {"error": ", ".join(f"{k} is missing" for k in missing)}
        source, target = str(body["source_branch"]), str(body["target_branch"])
        if source == target:
            return 422, {"message": ["You must select different branches"]}
        errors = [
            f'{kind} branch "{branch}" does not exist'
            for kind, branch in (("Source", source), ("Target", target))
            if self.branch_sha(branch) is None
        ]
        if errors:
            return 422, {"message": errors}
        with self._lock:
            clash = next(
                (
                    m
                    for m in self.merge_requests
                    if m["state"] == "opened"
                    and m["source_branch"] == source
                    and m["target_branch"] == target
                ),
                None,
            )
            if clash is not None:
                return 409, {
                    "message": [
                        "Another open merge request already exists for this source branch: "
                        f"!{clash['iid']}"
                    ]
                }
            iid = len(self.merge_requests) + 1
            stored = self._merge_request_json(iid, body)
            self.merge_requests.append(stored)
        if self.create_delay_seconds:
            time.sleep(self.create_delay_seconds)
        return 201, self._single(stored)

    def _update(self, found: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for key in ("title", "description", "target_branch"):
                if key in body:
                    found[key] = body[key]
            if body.get("state_event") in _STATE_EVENTS:
                found["state"] = _STATE_EVENTS[body["state_event"]]
            found["draft"] = found["work_in_progress"] = bool(_DRAFT_TITLE.match(found["title"]))
            found["updated_at"] = _now()
        return self._single(found)

    def _merge_request_json(self, iid: int, body: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        draft = bool(_DRAFT_TITLE.match(str(body["title"])))
        return {
            "id": 90_000 + iid,
            "iid": iid,
            "project_id": self.project_id,
            "title": body["title"],
            "description": body.get("description"),
            "state": "opened",
            "created_at": now,
            "updated_at": now,
            "merged_by": None,
            "merge_user": None,
            "merged_at": None,
            "closed_by": None,
            "closed_at": None,
            "target_branch": body["target_branch"],
            "source_branch": body["source_branch"],
            "user_notes_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "author": {
                "id": 31,
                "username": "agentdesk-bot",
                "name": "agentdesk",
                "state": "active",
                "locked": False,
                "avatar_url": None,
                "web_url": f"{WEB}/agentdesk-bot",
            },
            "assignees": [],
            "assignee": None,
            "reviewers": [],
            "source_project_id": self.project_id,
            "target_project_id": self.project_id,
            "labels": [],
            "draft": draft,
            "imported": False,
            "imported_from": "none",
            "work_in_progress": draft,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "checking",
            "detailed_merge_status": "draft_status" if draft else "checking",
            "merge_commit_sha": None,
            "squash_commit_sha": None,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": False,
            "prepared_at": now,
            "reference": f"!{iid}",
            "references": {
                "short": f"!{iid}",
                "relative": f"!{iid}",
                "full": f"{self.project_path}!{iid}",
            },
            "web_url": f"{WEB}/{self.project_path}/-/merge_requests/{iid}",
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "squash": False,
            "squash_on_merge": False,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False,
            "blocking_discussions_resolved": True,
        }

    def _basic(self, stored: dict[str, Any]) -> dict[str, Any]:
        """A list entry: the stored fields with the source branch's current head."""
        return {**stored, "sha": self.branch_sha(stored["source_branch"])}

    def _single(self, stored: dict[str, Any]) -> dict[str, Any]:
        """One merge request: a list entry plus what only a single one carries."""
        head = self.branch_sha(stored["source_branch"])
        base = self.branch_sha(stored["target_branch"])
        return {
            **self._basic(stored),
            "subscribed": True,
            "changes_count": str(len(self.commits_on(stored["source_branch"])) or ""),
            "latest_build_started_at": None,
            "latest_build_finished_at": None,
            "first_deployed_to_production_at": None,
            "pipeline": None,
            "head_pipeline": None,
            "diff_refs": {"base_sha": base, "head_sha": head, "start_sha": base},
            "merge_error": None,
            "first_contribution": False,
            "user": {"can_merge": True},
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
