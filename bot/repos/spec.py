"""Which repositories agents may read, as written in the REPOS setting.

Entries are separated by commas or newlines; each is

    name=location[#branch][@TOKEN_ENV_VAR]

- `name`: a short slug (lower-case letters, digits, `-`, `_`; at most 40 characters), the
  name agents use for the repository.
- `location`: either a local folder (absolute, `~/…` or relative to the working directory),
  read in place, or a git URL (`https://`, `http://`, `ssh://`, `git://`, `file://` or
  scp-style `git@host:owner/repo.git`), cloned into the cache and fetched on a schedule.
- `#branch`: the branch to follow (URLs only); without it, the remote's default branch.
- `@TOKEN_ENV_VAR`: the name of an environment variable holding an access token for an
  `https://` URL (or `http://` on the loopback interface; with a `file://` URL it is only used
  for the pull-request API of implementation runs). The variable holds either a token
  (sent as HTTP Basic `x-access-token:<token>`, which GitHub and GitLab accept) or
  `user:password`. The token is read at each fetch and never written to disk.

Example: `api=/srv/api, web=https://github.com/acme/web.git#main@WEB_REPO_TOKEN`
"""

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_TOKEN_SUFFIX = re.compile(r"@([A-Z_][A-Z0-9_]*)$")
_BRANCH_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")
_SCP_URL = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*$")
_URL_SCHEMES = ("https", "http", "ssh", "git", "file")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class RepoConfigError(ValueError):
    """A REPOS entry that cannot be used; the message names the entry and what to fix."""


@dataclass(frozen=True)
class RepoSpec:
    """One configured repository: a local folder read in place, or a git URL to mirror."""

    name: str
    path: Path | None = None
    url: str | None = None
    token_env: str | None = None
    branch: str | None = None

    @property
    def is_mirror(self) -> bool:
        """True when agentdesk clones and fetches this repository itself."""
        return self.url is not None

    @property
    def location(self) -> str:
        """Where the repository comes from, safe to show (never holds a token)."""
        return self.url if self.url is not None else str(self.path)


def parse_repo_specs(text: str) -> list[RepoSpec]:
    """Read a REPOS setting value; raise RepoConfigError naming the first bad entry."""
    specs: list[RepoSpec] = []
    seen: set[str] = set()
    for entry in (part.strip() for part in re.split(r"[,\n]", text)):
        if not entry or entry.startswith("#"):
            continue
        spec = parse_repo_spec(entry)
        if spec.name in seen:
            raise RepoConfigError(
                f"REPOS names `{spec.name}` twice; give each repository its own name."
            )
        seen.add(spec.name)
        specs.append(spec)
    return specs


def parse_repo_spec(entry: str) -> RepoSpec:
    """Read one `name=location[#branch][@TOKEN_ENV_VAR]` entry."""
    name, equals, rest = entry.partition("=")
    name, rest = name.strip(), rest.strip()
    if not equals or not rest:
        raise RepoConfigError(
            f"REPOS entry `{_shown(entry)}` is not `name=location`: write e.g. `api=/srv/api`."
        )
    if not NAME_PATTERN.match(name):
        raise RepoConfigError(
            f"REPOS entry `{_shown(entry)}`: the name `{name}` must be a short slug "
            "(lower-case letters, digits, `-` or `_`, at most 40 characters)."
        )
    token_env = None
    token = _TOKEN_SUFFIX.search(rest)
    if token:
        token_env, rest = token.group(1), rest[: token.start()]
    location, hash_sign, branch_text = rest.partition("#")
    location = location.strip()
    branch = branch_text.strip() if hash_sign else None
    if not location:
        raise RepoConfigError(f"REPOS entry `{_shown(entry)}` has no location after `{name}=`.")
    if _is_url(location):
        _check_url(entry, location, token_env)
        if branch is not None and not _BRANCH_PATTERN.match(branch):
            raise RepoConfigError(
                f"REPOS entry `{_shown(entry)}`: `{branch}` is not a usable branch name."
            )
        return RepoSpec(name=name, url=location, token_env=token_env, branch=branch)
    if branch is not None or token_env is not None:
        raise RepoConfigError(
            f"REPOS entry `{_shown(entry)}`: a local folder is read as it is, so it takes "
            "no `#branch` or `@TOKEN`; give a git URL to follow a branch."
        )
    return RepoSpec(name=name, path=Path(location).expanduser())


def _is_url(location: str) -> bool:
    scheme = location.split("://", 1)[0].lower() if "://" in location else ""
    return scheme in _URL_SCHEMES or bool(_SCP_URL.match(location))


def _check_url(entry: str, url: str, token_env: str | None) -> None:
    if url.startswith("-"):
        raise RepoConfigError(f"REPOS entry `{_shown(entry)}`: a URL cannot start with `-`.")
    if "://" not in url:  # scp-style: ssh
        parts = None
    else:
        parts = urlsplit(url)
        if parts.password is not None:
            raise RepoConfigError(
                f"REPOS entry `{_shown(entry)}`: put no password or token in the URL; name an "
                "environment variable that holds it with `@VARIABLE` instead."
            )
        if parts.scheme != "file" and not parts.hostname:
            raise RepoConfigError(f"REPOS entry `{_shown(entry)}`: the URL has no host.")
    if token_env is None:
        return
    # A file:// remote never receives the token; it is kept for the pull-request API.
    secure = parts is not None and (
        parts.scheme in ("https", "file")
        or (parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK_HOSTS)
    )
    if not secure:
        raise RepoConfigError(
            f"REPOS entry `{_shown(entry)}`: a token (`@{token_env}`) is only sent over "
            "https://; for ssh use a deploy key in the ssh configuration instead."
        )


def _shown(entry: str) -> str:
    """The entry as it may appear in a message: any `user:secret@` part of a URL hidden."""
    return re.sub(r"(://[^/@\s:]*):[^/@\s]*@", r"\1:***@", entry)
