"""Who may sign off a requirement card: the requester, APPROVERS, or the code owners.

The rule is read from the settings and the card (its paths, against the repository's
CODEOWNERS); user groups are expanded only when someone presses Approve, through the
adapter's `GroupDirectory`.
"""

import logging
from dataclasses import dataclass, field

from bot.config import Settings, split_ids
from bot.engine.ports import GroupDirectory
from bot.engine.requirement_card import CardContent
from bot.repos import RepoMirror, RepoSet, RepoUnavailableError
from bot.repos.codeowners import (
    MAX_CODEOWNERS_BYTES,
    CodeOwners,
    SlackOwnerMap,
    find_codeowners,
    parse_slack_owner_map,
    slack_ids_for,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignOffRule:
    """Who may approve one card, and how to say so."""

    description: str  # "the requester (Alice)"; "a code owner of `app/db.py` (@org/db)"
    mentions: str | None = None  # the description with chat mentions, for answers to one person
    user_ids: frozenset[str] = frozenset()
    group_ids: frozenset[str] = frozenset()
    code_owners: tuple[str, ...] = ()  # CODEOWNERS owners, found in Slack when asked
    owner_map: SlackOwnerMap = field(default_factory=SlackOwnerMap)
    repo: str | None = None  # the repository the card's paths are in
    notes: tuple[str, ...] = ()

    def allows(self, user_id: str, *, team_id: str, directory: GroupDirectory | None) -> bool:
        """Whether `user_id` may approve; groups are asked of the directory when needed."""
        users, groups = set(self.user_ids), set(self.group_ids)
        if self.code_owners:
            handles = directory.groups_by_handle(team_id=team_id) if directory else {}
            found = slack_ids_for(
                owners=self.code_owners, mapping=self.owner_map, groups_by_handle=handles
            )
            users |= {i for i in found.ids if not i.startswith("S")}
            groups |= {i for i in found.ids if i.startswith("S")}
        if user_id in users:
            return True
        if directory is None:
            return False
        return any(user_id in directory.members(team_id=team_id, group_id=g) for g in groups)

    def refusal(self) -> str:
        """The answer to someone who may not approve."""
        return " ".join((f"Only {self.who} can sign this card off.", *self.notes))

    @property
    def who(self) -> str:
        """Who may approve, for an answer to one person (mentions where the chat has them)."""
        return self.mentions or self.description


def sign_off_rule(
    settings: Settings,
    *,
    requester_id: str,
    requester_name: str | None,
    card: CardContent | None,
    repos: RepoSet | None,
) -> SignOffRule:
    """The rule for a card: code owners (REQUIRE_CODEOWNERS), else APPROVERS, else the
    requester. Where code owners can't be found, it falls back and says why."""
    repo = _repository_of(card, repos)
    notes: tuple[str, ...] = ()
    if settings.require_codeowners and card is not None:
        owned = _code_owners(settings, card, repos)
        if isinstance(owned, SignOffRule):
            return owned
        notes = (owned,)
    listed = sorted(split_ids(settings.approvers))
    if listed:
        users = frozenset(p for p in listed if not p.startswith("S"))
        groups = frozenset(p for p in listed if p.startswith("S"))
        shown = ", ".join(f"<!subteam^{p}>" if p in groups else f"<@{p}>" for p in listed)
        return SignOffRule(
            description="an approver named in APPROVERS",
            mentions=f"the approvers ({shown})",
            user_ids=users,
            group_ids=groups,
            repo=repo,
            notes=notes,
        )
    name = requester_name or f"<@{requester_id}>"
    return SignOffRule(
        description=f"the requester ({name})",
        user_ids=frozenset({requester_id}),
        repo=repo,
        notes=notes,
    )


def _split(entry: str, repos: RepoSet | None) -> tuple[str | None, str]:
    """`repo:path` or `path` as (repository name, path)."""
    name, sep, path = entry.strip().strip("`").partition(":")
    if sep and repos is not None and repos.get(name) is not None:
        return name, path
    only = repos.names[0] if repos is not None and len(repos) == 1 else None
    return only, entry.strip().strip("`")


def _repository_of(card: CardContent | None, repos: RepoSet | None) -> str | None:
    if repos is None or len(repos) == 0:
        return None
    for entry in card.touches if card else []:
        name, _ = _split(entry, repos)
        if name is not None:
            return name
    return repos.names[0] if len(repos) == 1 else None


def _code_owners(settings: Settings, card: CardContent, repos: RepoSet | None) -> SignOffRule | str:
    """The code owners of the card's paths as a rule, or why there is none (a note)."""
    if not card.touches:
        return "The card names no paths yet, so no code owner applies."
    if repos is None or len(repos) == 0:
        return "No repository is configured (REPOS), so CODEOWNERS can't be read."
    try:
        mapping = parse_slack_owner_map(settings.codeowners_slack)
    except ValueError as error:
        return f"{error}."
    owners: dict[str, tuple[str, ...]] = {}
    repo_used: str | None = None
    for entry in card.touches:
        name, path = _split(entry, repos)
        mirror = repos.get(name) if name else None
        codeowners = _read_codeowners(mirror) if mirror is not None else None
        found = codeowners.owners_of(path) if codeowners is not None else ()
        if found:
            owners[path] = found
            repo_used = repo_used or name
    if not owners:
        return "No CODEOWNERS entry names an owner of the card's paths."
    every = tuple(sorted({owner for found in owners.values() for owner in found}))
    paths = ", ".join(f"`{path}`" for path in owners)
    return SignOffRule(
        description=f"a code owner of {paths} ({', '.join(every)})",
        code_owners=every,
        owner_map=mapping,
        repo=repo_used,
    )


def _read_codeowners(mirror: RepoMirror) -> CodeOwners | None:
    """The repository's CODEOWNERS as last fetched (None without one, or unreadable)."""
    try:
        with mirror.reading() as snapshot:
            root = snapshot.root.resolve()

            def read(relative: str) -> str | None:
                path = (root / relative).resolve()
                if not path.is_relative_to(root) or not path.is_file():
                    return None
                if path.stat().st_size > MAX_CODEOWNERS_BYTES:
                    return None
                return path.read_text(encoding="utf-8", errors="replace")

            return find_codeowners(read)
    except (RepoUnavailableError, OSError) as error:
        log.info("could not read CODEOWNERS of %s: %s", mirror.name, error)
        return None
