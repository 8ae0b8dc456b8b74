"""The repository tools as the engine's Toolbox: what an agent may read, and reading it."""

from typing import Any

from bot.agents.model import AgentDefinition
from bot.engine.turn import ToolOutput
from bot.repos import RepoSet, RepoTools, tool_definitions
from bot.repos.definitions import LIST_FILES, READ_FILE, SEARCH_CODE, repo_tool_names


class RepoToolbox:
    """Read-only code tools for agents whose `tools:` allow Read, Grep or Glob."""

    def __init__(self, repos: RepoSet, tools: RepoTools) -> None:
        self.repos = repos
        self.tools = tools

    def definitions(self, agent: AgentDefinition) -> list[dict[str, Any]]:
        """The tools this agent may use over the configured repositories."""
        return tool_definitions(agent_tools=agent.tools, repo_names=self.repos.names)

    def run(self, agent: AgentDefinition, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Run one tool the agent may use; the files read become `repo:path@commit` sources."""
        if name not in repo_tool_names(agent.tools):
            return ToolOutput(text=f"{agent.name} may not use {name}.", is_error=True)
        result = self.tools.run_tool(name=name, tool_input=arguments)
        repo = str(arguments.get("repo") or "")
        mirror = self.repos.get(repo) if repo in self.repos.names else None
        commit = (mirror.commit() or "")[:12] if mirror is not None else ""
        sources = tuple(
            f"{repo}:{path}" + (f"@{commit}" if commit else "")
            for path in result.files
            if name in (READ_FILE, SEARCH_CODE)
        )
        return ToolOutput(text=result.text, is_error=result.is_error, sources=sources)

    def describe(self, name: str, arguments: dict[str, Any]) -> str:
        """The status line while a tool runs."""
        repo = arguments.get("repo", "")
        if name == READ_FILE:
            return f"is reading {repo}:{arguments.get('path', '')}"
        if name == SEARCH_CODE:
            return f"is searching {repo} for `{arguments.get('pattern', '')}`"
        if name == LIST_FILES:
            return f"is listing {repo} files `{arguments.get('pattern', '**/*')}`"
        return f"is using {name}"
