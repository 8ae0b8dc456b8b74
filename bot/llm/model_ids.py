"""Which model an agent runs on."""

from bot.config import Settings

_ALIASES = {"sonnet": "model_sonnet", "opus": "model_opus", "haiku": "model_haiku"}


def resolve_model(declared: str | None, *, settings: Settings) -> str:
    """Map an agent's `model:` to a model id: aliases to configured ids, `inherit`/absent to the
    default, a full id as it is."""
    if declared is None or not declared.strip() or declared.strip().lower() == "inherit":
        return settings.model_default
    alias = _ALIASES.get(declared.strip().lower())
    return str(getattr(settings, alias)) if alias else declared.strip()
