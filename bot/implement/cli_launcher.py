"""Starts Claude Code's CLI with an environment built from nothing.

claude-agent-sdk hands its CLI a copy of the whole parent environment, which in agentdesk holds
the Slack tokens, the model key and the repository tokens, and the CLI hands its environment on
to every command it runs. So the SDK starts this file instead (run by path with `python -I`,
standard library only): it keeps the environment the run asked for (`AGENTDESK_RUN_ENV`, JSON,
no secret in it) and the few variables the SDK itself sets to talk to its CLI, drops the rest,
and becomes the CLI (`AGENTDESK_RUN_CLI`).
"""

import json
import os
import sys

# What claude-agent-sdk sets for its own conversation with the CLI; nothing else passes.
SDK_VARIABLES = (
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_AGENT_SDK_VERSION",
    "CLAUDE_AGENT_SDK_CLIENT_APP",
    "CLAUDE_AGENT_SDK_DERIVED_CLIENT_APP",
    "CLAUDE_CODE_SDK_READS_SESSION_STATE",
    "CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING",
    "PWD",
)


def run_environment(parent: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The CLI to start and the only environment it gets."""
    cli = parent["AGENTDESK_RUN_CLI"]
    env = {str(key): str(value) for key, value in json.loads(parent["AGENTDESK_RUN_ENV"]).items()}
    for name in SDK_VARIABLES:
        if name in parent and name not in env:
            env[name] = parent[name]
    return cli, env


def main() -> None:
    """Replace this process with the CLI, under the run's environment."""
    cli, env = run_environment(dict(os.environ))
    os.execve(cli, [cli, *sys.argv[1:]], env)  # noqa: S606 - the CLI, with our own arguments


if __name__ == "__main__":
    main()
