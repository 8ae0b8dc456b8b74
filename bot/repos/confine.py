"""Where the tools may look: inside the repository, outside `.git/`, away from secrets.

Every path a tool takes or returns passes through here. A path is refused when it is
absolute, climbs with `..`, goes through `.git` (git's internals, at any depth), has a
component that looks like a secret (SECRET_PATTERNS), is ignored by `.gitignore`, or
resolves, through a symlinked file or folder, to a place outside the repository or to a
refused path inside it.
"""

import fnmatch
import os
import re
import stat
from pathlib import Path, PurePosixPath

from bot.repos.ignore import IgnoreRules

# Matched, case-insensitively, against every component of a path (or, for an entry with a
# `/`, against consecutive components), so a folder that matches hides everything under it.
# Keep in step with docs/agents.md.
SECRET_PATTERNS: tuple[str, ...] = (
    # environment files: .env, .env.local, .env.production, prod.env, direnv's .envrc
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    # private keys, certificates and key stores
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".ssh",
    ".gnupg",
    # credential files of common tools
    "credentials",
    "credentials*.json",
    "service-account*.json",
    ".npmrc",
    ".pypirc",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    ".dockercfg",
    ".docker/config.json",
    ".kube/config",
    "*.tfstate",
    "*.tfstate.*",
    "*.tfvars",
    # anything that says so
    "*secret*",
)


def _framed_regex(pattern: str) -> str:
    """A SECRET_PATTERNS entry as a regex finding a matching component in `/a/b/c/`.

    The path is framed by slashes and lower-cased first, so a component is `/name/`; a
    leading or trailing `*` needs no regex at all, which keeps the search fast.
    """
    core = "".join(
        "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
        for char in pattern.strip("*")
    )
    left = "" if pattern.startswith("*") else "/"
    right = "" if pattern.endswith("*") else "/"
    return left + core + right


def _grouped(alternatives: list[str]) -> str:
    """Alternatives sharing a first character grouped behind it: `/(?:a|b)` is much faster
    for Python's `re` to scan for than `/a|/b`."""
    groups: dict[str, list[str]] = {}
    for alternative in alternatives:
        if alternative.startswith("\\"):
            lead = alternative[:2]
        else:
            lead = alternative[:1] if alternative[:1] == "/" or alternative[:1].isalnum() else ""
        groups.setdefault(lead, []).append(alternative[len(lead) :])
    return "|".join(f"{lead}(?:{'|'.join(rests)})" for lead, rests in groups.items())


# Finds `.git` or a secret-looking component in a lower-cased path framed as `/a/b/c/`.
_HIDDEN_COMPONENT = re.compile(
    _grouped([_framed_regex(p.lower()) for p in (".git", *SECRET_PATTERNS)])
)


def hidden_path(rel: str) -> bool:
    """Whether any component of a relative path is `.git` or looks like a secret.

    One regex search over the whole path, since listings run this on every file.
    """
    return _HIDDEN_COMPONENT.search(f"/{rel.lower()}/") is not None


_NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathRefusedError(Exception):
    """A path the tools will not touch; the message says why and what to do instead."""


def secret_pattern(name: str) -> str | None:
    """The SECRET_PATTERNS entry a single file or folder name matches, if any."""
    return next((p for p in SECRET_PATTERNS if fnmatch.fnmatchcase(name.lower(), p)), None)


def hidden_reason(rel: str) -> str | None:
    """Why a clean relative path is never shown (`.git` or a secret), or None."""
    if not hidden_path(rel):
        return None
    parts = rel.split("/")
    if ".git" in (part.lower() for part in parts):
        return (
            f"`{rel}` is inside `.git/`, git's internal files, which are not shown; "
            "read the working-tree files instead."
        )
    matched = next((secret_pattern(part) for part in parts if hidden_path(part)), None)
    because = f" (it matches `{matched}`)" if matched else ""
    return f"`{rel}` looks like a secrets file{because}, which agents may not read."


def normalise(path: str) -> str:
    """A repository-relative path as `a/b/c`; PathRefusedError for absolute or climbing paths."""
    text = path.strip()
    if not text or text in (".", "./"):
        raise PathRefusedError(
            "Give a file path relative to the repository root, like `src/app.py`."
        )
    if "\x00" in text:
        raise PathRefusedError("A path cannot contain a NUL character.")
    if text.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", text):
        raise PathRefusedError(
            f"`{text}` is an absolute path; give a path relative to the repository root, "
            "like `src/app.py`."
        )
    parts = [part for part in PurePosixPath(text).parts if part != "."]
    if ".." in parts:
        raise PathRefusedError(f"`{text}` climbs with `..`; paths must stay inside the repository.")
    return "/".join(parts)


def resolve_inside(root: Path, path: str, ignore: IgnoreRules) -> tuple[str, Path]:
    """The clean relative path and the real file it names; PathRefusedError when not allowed.

    `root` must already be resolved. The checks run on the path as asked and again on
    where it leads, so a symlink cannot reach outside the root, `.git`, a secret or an
    ignored file.
    """
    rel = normalise(path)
    _check_visible(rel, ignore)
    target = (root / rel).resolve()
    if target != root and not target.is_relative_to(root):
        raise PathRefusedError(
            f"`{rel}` leads outside the repository through a symlink, which is not followed."
        )
    target_rel = target.relative_to(root).as_posix()
    if target_rel != rel and target_rel != ".":
        try:
            _check_visible(target_rel, ignore)
        except PathRefusedError as refused:
            raise PathRefusedError(
                f"`{rel}` is a symlink to a path that is not shown: {refused}"
            ) from None
    return rel, target


def _check_visible(rel: str, ignore: IgnoreRules) -> None:
    reason = hidden_reason(rel)
    if reason is not None:
        raise PathRefusedError(reason)
    if ignore.is_ignored(rel, is_dir=False):
        raise PathRefusedError(f"`{rel}` is ignored by .gitignore, so it is not shown.")


def open_no_follow(*, root: Path, rel: str) -> int:
    """An fd for reading the regular file `rel` under `root`, following no symlink on the way.

    Each folder is opened relative to the one before with O_NOFOLLOW, so a folder swapped
    for a symlink after the path was checked cannot lead the read anywhere else.
    """
    *folders, name = PurePosixPath(rel).parts
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for folder in folders:
            inner = os.open(folder, _NO_FOLLOW | os.O_DIRECTORY, dir_fd=directory)
            os.close(directory)
            directory = inner
        fd = os.open(name, _NO_FOLLOW | os.O_NONBLOCK, dir_fd=directory)
    finally:
        os.close(directory)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(f"{rel} is not a regular file")
    return fd


def read_bytes_no_follow(*, root: Path, rel: str, max_bytes: int) -> bytes | None:
    """The file's bytes, or None when it is larger than `max_bytes`; OSError when unreadable."""
    with os.fdopen(open_no_follow(root=root, rel=rel), "rb") as handle:
        if os.fstat(handle.fileno()).st_size > max_bytes:
            return None
        return handle.read()
