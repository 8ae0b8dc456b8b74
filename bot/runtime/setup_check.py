"""`agentdesk doctor`'s word on set-up steps: which one each repository gets, and
`doctor --setup NAME`, which runs one as a run would (and keeps its result for the runs)."""

import shutil
import tempfile
from pathlib import Path

from bot.config import Settings
from bot.implement.isolation import protected_paths
from bot.implement.setup_step import (
    SetupConfigError,
    SetupPlan,
    SetupWalls,
    cache_folder,
    describe,
    find_setup,
    run_setup,
    setup_hosts,
)
from bot.repos import RepoConfigError, RepoSyncError, RepoUnavailableError, build_repo_set
from bot.runtime.doctor import Check

NAME = "Set-up steps"


def setup_check(settings: Settings) -> Check:
    """The set-up step each repository would get, read from its last fetched checkout."""
    if not settings.repos.strip():
        return Check(NAME, True, "no repository configured (REPOS)")
    try:
        repos = build_repo_set(settings)
    except (RepoConfigError, SetupConfigError) as error:
        return Check(NAME, False, str(error), "Fix REPOS.")
    lines: list[str] = []
    for mirror in repos:
        try:
            with mirror.reading() as snapshot:
                plan = find_setup(mirror.name, snapshot.root, setting=settings.implement_setup)
        except RepoUnavailableError:
            lines.append(f"{mirror.name}: not fetched yet")
            continue
        except SetupConfigError as error:
            return Check(
                NAME, False, str(error), "Fix IMPLEMENT_SETUP (one `name=command` a line)."
            )
        lines.append(f"{mirror.name}: {describe(plan)}")
    return Check(NAME, True, "; ".join(lines), "`agentdesk doctor --setup NAME` runs one.")


def try_setup(settings: Settings, name: str) -> Check:
    """Run repository `name`'s set-up step as a run would, on a copy of its checkout."""
    try:
        repos = build_repo_set(settings)
    except RepoConfigError as error:
        return Check(NAME, False, str(error), "Fix REPOS.")
    from bot.implement.availability import sandbox_missing

    if missing := sandbox_missing():
        return Check(
            NAME, False, f"the sandbox can't start here: {missing}", "See docs/implementation.md."
        )
    mirror = repos.get(name)
    if mirror is None:
        return Check(
            NAME, False, f"no repository {name!r} in REPOS", "Names: " + ", ".join(repos.names)
        )
    try:
        mirror.sync()
    except RepoSyncError as error:
        return Check(NAME, False, str(error), "Fix REPOS or the network.")
    work = settings.implement_work_dir.expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".doctor-", dir=work))
    try:
        copy = folder / "checkout"
        with mirror.reading() as snapshot:
            shutil.copytree(snapshot.root, copy, ignore=shutil.ignore_patterns(".git"))
        try:
            plan: SetupPlan | None = find_setup(name, copy, setting=settings.implement_setup)
        except SetupConfigError as error:
            return Check(NAME, False, str(error), "Fix IMPLEMENT_SETUP.")
        if plan is None:
            return Check(NAME, True, f"{name}: {describe(None)}")
        private = folder / "private"
        private.mkdir()
        result = run_setup(
            plan,
            repo=name,
            worktree=copy,
            walls=SetupWalls(
                hidden=(*protected_paths(settings), folder),
                private=private,
                extra_hosts=setup_hosts(settings.implement_setup_hosts),
                timeout_seconds=settings.implement_setup_seconds,
            ),
            cache_dir=cache_folder(settings.implement_work_dir),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    detail = f"{name}: {result.line()}"
    if result.refused:
        detail += f" Refused: {', '.join(result.refused)}."
    if result.ok:
        return Check(NAME, True, detail)
    return Check(
        NAME,
        False,
        f"{detail}\n{result.output.strip()[-1500:]}",
        "Fix the step, or add the hosts it needs to IMPLEMENT_SETUP_HOSTS.",
    )
