"""Start-up checks and errors: one clear line for every set-up mistake, never a traceback.

Commands call `require(...)` with the doctor's checks before they start; `explain` turns
whatever still escapes into one line, and `bot.cli.main.main` prints it and exits non-zero.
"""

from bot.config import Settings
from bot.runtime.doctor import Check, agents_folder_check, database_check, slack_token_check

DEBUG_HINT = "(run with --debug for the traceback)"


class StartupError(Exception):
    """agentdesk can't start: `problem` says what is wrong, `fix` what to do next."""

    def __init__(self, problem: str, fix: str = "", *, expected: bool = True) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.expected = expected  # False for a failure nobody foresaw (exit status 1, not 2)

    def line(self) -> str:
        """The one line printed for it."""
        problem = self.problem.rstrip(".")
        return f"{problem}. {self.fix}" if self.fix else f"{problem}."


def require(check: Check) -> Check:
    """The check when it passed; StartupError with its detail and fix when it did not."""
    if not check.ok:
        raise StartupError(f"{check.name}: {check.detail}", check.fix)
    return check


def require_database(settings: Settings) -> None:
    """DATABASE_URL is usable and the database answers."""
    require(database_check(settings))


def require_agents_folder(settings: Settings) -> None:
    """AGENTS_DIR is a folder."""
    require(agents_folder_check(settings))


def require_slack_token(settings: Settings) -> None:
    """Slack answers and accepts SLACK_BOT_TOKEN."""
    require(slack_token_check(settings)[0])


def explain(error: BaseException) -> StartupError:
    """One line for an error that escaped a command: known set-up trouble, else its message."""
    if isinstance(error, StartupError):
        return error
    from bot.store.db import DatabaseUrlError

    if isinstance(error, DatabaseUrlError):
        return StartupError(error.problem, error.fix)
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        return StartupError(
            f"A setting can't be used: {problems}",
            "Fix it in the environment or .env (.env.sample explains each).",
        )
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        cause = str(error.orig or error).strip().splitlines()[0]
        return StartupError(
            f"Database error: {cause}",
            "Check that the database is up and DATABASE_URL is right (`agentdesk doctor`).",
        )
    message = " ".join(str(error).split()) or "no message"
    return StartupError(f"{type(error).__name__}: {message}", DEBUG_HINT, expected=False)
