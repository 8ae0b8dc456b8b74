"""A channel's own settings: its defaults and budget, and whether it allows implementation."""

from typing import Any, TypeVar

from sqlmodel import Session

from bot.store.models import ChannelSetting, ImplementChannel, utcnow

_ChannelRow = TypeVar("_ChannelRow", ChannelSetting, ImplementChannel)


def channel_setting(*, session: Session, team_id: str, channel_id: str) -> ChannelSetting | None:
    """A channel's settings, if any were made."""
    return session.get(ChannelSetting, (team_id, channel_id))


def save_channel_setting(
    *, session: Session, team_id: str, channel_id: str, **changes: Any
) -> ChannelSetting:
    """Create or update a channel's settings."""
    setting = _row_of(session, ChannelSetting, team_id, channel_id)
    for key, value in changes.items():
        setattr(setting, key, value)
    setting.updated_at = utcnow()
    session.flush()
    return setting


def implement_channel(
    *, session: Session, team_id: str, channel_id: str
) -> ImplementChannel | None:
    """Whether a channel turned implementation runs on or off, if it said."""
    return session.get(ImplementChannel, (team_id, channel_id))


def save_implement_channel(
    *, session: Session, team_id: str, channel_id: str, enabled: bool
) -> ImplementChannel:
    """Turn implementation runs on or off for one channel."""
    setting = _row_of(session, ImplementChannel, team_id, channel_id)
    setting.enabled = enabled
    setting.updated_at = utcnow()
    session.flush()
    return setting


def _row_of(
    session: Session, table: type[_ChannelRow], team_id: str, channel_id: str
) -> _ChannelRow:
    """The channel's row of `table`, added to the session when it has none yet."""
    row = session.get(table, (team_id, channel_id))
    if row is None:
        row = table(team_id=team_id, channel_id=channel_id)
        session.add(row)
    return row
