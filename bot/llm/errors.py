"""Why the model could not answer, in words a teammate can act on (no SDK import here)."""


class FailureReason(str):
    """A reason written for the people in a thread that knows whether trying again can help."""

    retryable: bool

    def __new__(cls, text: str, *, retryable: bool = True) -> "FailureReason":
        reason = super().__new__(cls, text)
        reason.retryable = retryable
        return reason


class ModelUnavailableError(Exception):
    """The model could not answer; `reason` is written for the people in the thread."""

    def __init__(self, reason: str, *, retryable: bool = True, too_long: bool = False) -> None:
        super().__init__(reason)
        self.reason = FailureReason(reason, retryable=retryable)
        self.retryable = retryable
        self.too_long = too_long


class MissingApiKeyError(ModelUnavailableError):
    """No key is configured, so nothing can be sent."""

    def __init__(self) -> None:
        super().__init__(
            "No model API key is set: put ANTHROPIC_API_KEY in the environment or .env "
            "(ANTHROPIC_BASE_URL can point at any Anthropic-compatible server).",
            retryable=False,
        )
