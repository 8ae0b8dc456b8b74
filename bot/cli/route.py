"""`agentdesk route TEXT`: show which agent a request would go to, how, and how fast."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.engine.learned_examples import StoredRouteExamples
    from bot.routing.decision import RouteDecision
    from bot.routing.model_classifier import ModelClassifier


def route(
    text: Annotated[str, typer.Argument(help="The request, as someone would write it.")],
    agents_dir: Annotated[
        Path | None,
        typer.Option("--agents-dir", help="Folder of agent files (default: AGENTS_DIR)."),
    ] = None,
    local_only: Annotated[
        bool,
        typer.Option("--local-only", help="Never call the model; undecided stays undecided."),
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object: agent, method, confidence, …"),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Also show the examples that weighed in, and whose."),
    ] = False,
    team: Annotated[
        str | None,
        typer.Option(
            "--team", help="Count this workspace's confirmed routes (read from DATABASE_URL)."
        ),
    ] = None,
) -> None:
    """Show which agent a request would go to, how it was chosen, and the time taken."""
    from bot.agents.registry import AgentRegistry
    from bot.config import get_settings
    from bot.routing.router import Router

    settings = get_settings()
    directory = agents_dir or settings.agents_dir
    if not directory.is_dir():
        typer.echo(
            f"No agents folder at {directory}: pass --agents-dir or set AGENTS_DIR.", err=True
        )
        raise typer.Exit(code=2)
    classifier = None if local_only else _classifier(settings)
    learned = _stored_examples(settings) if team else None
    router = Router(AgentRegistry(directory), classifier, learned=learned)
    decision = router.route(text=text, local_only=classifier is None, team_id=team)
    if json_output:
        typer.echo(_as_json(decision, explain=explain))
    else:
        typer.echo(_as_text(decision, explain=explain))


def _classifier(settings: "Settings") -> "ModelClassifier | None":
    """The model step through `LLMClient`, or None when no API key is set."""
    if settings.anthropic_api_key is None:
        return None
    from bot.llm.client import LLMClient
    from bot.routing.model_classifier import ModelClassifier

    return ModelClassifier(llm=LLMClient(settings), model=settings.model_router)


def _stored_examples(settings: "Settings") -> "StoredRouteExamples":
    from bot.engine.learned_examples import StoredRouteExamples
    from bot.store.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return StoredRouteExamples(engine)


def _as_json(decision: "RouteDecision", *, explain: bool = False) -> str:
    data = decision.to_dict()
    keys = ["agent", "method", "confidence", "candidates", "ms"]
    if explain:
        keys += ["reason", "model_answer", "examples"]
    return json.dumps({key: data[key] for key in keys})


def _as_text(decision: "RouteDecision", *, explain: bool = False) -> str:
    from bot.routing.decision import RouteMethod

    if decision.agent:
        agent = decision.agent
    elif decision.method is RouteMethod.ASK:
        agent = "undecided (the requester would be asked)"
    else:
        agent = "none"
    lines = [
        f"agent:      {agent}",
        f"method:     {decision.method.value}",
        f"confidence: {decision.confidence:.2f}",
        f"why:        {decision.reason}",
    ]
    if decision.candidates:
        lines.append("candidates:")
        width = max(len(c.agent) for c in decision.candidates)
        lines += [f"  {c.agent:<{width}}  {c.score:.3f}" for c in decision.candidates]
    if explain:
        lines += _explained(decision)
    if decision.coverage:
        lines.append(decision.coverage)
    lines.append(f"time:       {decision.ms:.1f} ms")
    return "\n".join(lines)


def _explained(decision: "RouteDecision") -> list[str]:
    """The examples that weighed in: confirmed routes and the agents' own examples."""
    if not decision.examples:
        return ["examples:   none weighed in"]
    whose = {"team": "confirmed by the team", "agent": "from the agent's file"}
    lines = ["examples:"]
    for example in decision.examples:
        source = whose.get(str(example.get("source")), str(example.get("source")))
        lines.append(
            f"  {float(example['score']):.2f}  {example['agent']}  ({source}): "
            f"{str(example['request'])[:100]!r}"
        )
    return lines
