"""`agentdesk route TEXT`: show which agent a request would go to, how, and how fast."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bot.config import Settings
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
    router = Router(AgentRegistry(directory), classifier)
    decision = router.route(text=text, local_only=classifier is None)
    typer.echo(_as_json(decision) if json_output else _as_text(decision))


def _classifier(settings: "Settings") -> "ModelClassifier | None":
    """The model step, or None when no API key is set."""
    if settings.anthropic_api_key is None:
        return None
    import anthropic

    from bot.routing.model_classifier import ModelClassifier

    client = anthropic.Anthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=min(settings.model_max_retries, 2),
    )
    return ModelClassifier(client=client, model=settings.model_router)


def _as_json(decision: "RouteDecision") -> str:
    data = decision.to_dict()
    return json.dumps(
        {key: data[key] for key in ("agent", "method", "confidence", "candidates", "ms")}
    )


def _as_text(decision: "RouteDecision") -> str:
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
    if decision.coverage:
        lines.append(decision.coverage)
    lines.append(f"time:       {decision.ms:.1f} ms")
    return "\n".join(lines)
