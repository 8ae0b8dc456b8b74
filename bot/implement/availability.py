"""Whether implementation runs can happen here: the optional extra, and Claude Code's sandbox."""

import importlib.util
import shutil

INSTALL_HINT = "pip install 'agentdesk[implement]'"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # blocked, or a broken installation
        return False


def implement_extra_missing() -> str | None:
    """Why runs cannot start (the `implement` extra is not installed), or None."""
    if not _installed("claude_agent_sdk"):
        return (
            "Implementation runs need the optional Claude Code runtime: install it with "
            f"`{INSTALL_HINT}` (or `make install`, which includes it) and restart agentdesk."
        )
    if not _installed("github"):
        return f"Implementation runs need PyGithub: install it with `{INSTALL_HINT}`."
    return None


def sandbox_missing() -> str | None:
    """Why Claude Code's command sandbox cannot start (Linux: bubblewrap and socat), or None."""
    missing = [name for name in ("bwrap", "socat") if shutil.which(name) is None]
    if not missing:
        return None
    packages = " ".join("bubblewrap" if name == "bwrap" else name for name in missing)
    return f"the command sandbox needs {', '.join(missing)} (`apt-get install {packages}`)"
