"""Sign-off settings read as Slack shows ids, and a mistyped one is named at once."""

import re

import pytest
from pydantic import ValidationError

from bot.config import Settings


def test_approvers_take_user_and_group_ids() -> None:
    settings = Settings(_env_file=None, approvers="U0ALICE, S0LEADS\nW0BOB")  # type: ignore[call-arg]
    assert settings.approvers == "U0ALICE, S0LEADS\nW0BOB"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("approvers", "U0ALICE,alice", "`alice` is not a Slack user id (U…, W…) or user-group id"),
        ("approvers", "@bob", "`@bob` is not"),
        ("implement_approvers", "S0LEADS", "`S0LEADS` is not a Slack user id (U…, W…),"),
    ],
)
def test_a_mistyped_approver_is_named(name: str, value: str, named: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(named)):
        Settings(_env_file=None, **{name: value})  # type: ignore[call-arg]
