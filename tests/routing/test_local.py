"""Step 4's scorer: BM25 over names, descriptions and example requests."""

import time
from collections.abc import Callable
from pathlib import Path

from bot.agents.registry import AgentRegistry, Roster
from bot.routing.local import LocalIndex
from bot.routing.specificity import specificity
from bot.routing.terms import QUERY_TERM_LIMIT, query_terms, stem, terms
from tests.routing.conftest import BACKEND, FRONTEND, agent_text


def test_scores_are_sorted_and_between_zero_and_one(roster: Roster) -> None:
    candidates = LocalIndex(roster).score("Add a settings page with a toggle for dark mode")
    assert candidates[0].agent == "frontend-feature-developer"
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)
    assert all(0.0 <= c.score <= 1.0 for c in candidates)
    assert {c.agent for c in candidates} == {a.name for a in roster}


def test_example_requests_pull_their_agent_up(roster: Roster) -> None:
    index = LocalIndex(roster)
    assert index.score("our weekly signup conversion numbers")[0].agent == "data-reporting-analyst"
    assert index.score("OAuth login for users")[0].agent == "backend-feature-developer"
    nearest = index.nearest_examples("a dark mode toggle on the settings page", k=2)
    assert nearest[0].agent == "frontend-feature-developer"
    assert nearest[0].request == "Add a settings page with a dark mode toggle"


def test_a_greeting_matches_nothing(roster: Roster) -> None:
    index = LocalIndex(roster)
    for text in ("hi there!", "Hello, thanks so much", "what's the weather like today?"):
        assert all(c.score == 0 for c in index.score(text)), text
    assert index.nearest_examples("hello", k=3) == []


def test_empty_roster_scores_nothing(tmp_path: Path) -> None:
    index = LocalIndex.for_roster(AgentRegistry(tmp_path).roster())
    assert len(index) == 0
    assert index.score("add OAuth login") == []
    assert index.nearest_examples("add OAuth login") == []


def test_agents_without_examples_still_score(make_roster: Callable[..., Roster]) -> None:
    roster = make_roster(
        {
            "a.md": agent_text("payments", "Stripe billing, invoices and refunds."),
            "b.md": agent_text("search", "Full-text search and relevance tuning."),
        }
    )
    candidates = LocalIndex(roster).score("refunds for duplicate invoices")
    assert candidates[0].agent == "payments" and candidates[1].score == 0


def test_other_languages_are_tokenised(roster: Roster) -> None:
    index = LocalIndex(roster)
    french = index.score("Ajoute une connexion OAuth pour nos utilisateurs, côté backend")
    assert french[0].agent == "backend-feature-developer"
    assert terms("日本語のテキスト") == ["日本", "本語", "語の", "のテ", "テキ", "キス", "スト"]
    assert all(c.score == 0 for c in index.score("ダッシュボードを作って"))
    assert terms("Größe ändern") == ["grösse", "ändern"]  # case-folded


def test_a_20000_character_request_is_fast(roster: Roster) -> None:
    index = LocalIndex(roster)
    words = " ".join(f"word{i}" for i in range(4000))
    text = ("Add a settings page with a dark mode toggle. " + words)[:20_000]
    assert len(text) == 20_000
    assert len(query_terms(text)) <= QUERY_TERM_LIMIT
    started = time.perf_counter()
    candidates = index.score(text)
    assert (time.perf_counter() - started) < 0.5
    assert candidates[0].agent == "frontend-feature-developer"


def test_index_is_reused_until_the_roster_changes(agents_dir: Path) -> None:
    registry = AgentRegistry(agents_dir)
    first = LocalIndex.for_roster(registry.roster())
    assert LocalIndex.for_roster(registry.roster()) is first
    (agents_dir / "extra.md").write_text(agent_text("extra", "Does extra things."), "utf-8")
    second = LocalIndex.for_roster(registry.roster())
    assert second is not first and "extra" in second.names


def test_terms_split_code_identifiers_and_stem() -> None:
    assert terms("EmailService refactored_queries HTTPServer") == [
        "emailservic",
        "email",
        "servic",
        "refactor",
        "queri",
        "httpserver",
        "http",
        "server",
    ]
    assert terms("jQuery iOS PostgreSQL GraphQL JavaScript C++ C# .NET") == [
        "jqueri",
        "ios",
        "postgresql",
        "graphql",
        "javascript",
        "cpp",
        "csharp",
        "dotnet",
    ]
    assert stem("running") == "run" and stem("classes") == "class" and stem("status") == "status"


def test_shortlist_draws_on_the_body_too(make_roster: Callable[..., Roster]) -> None:
    files = {
        f"p{i}.md": agent_text(f"payments-{i}", f"Checkout flow and payment pages, variant {i}.")
        for i in range(16)
    }
    files["ledger.md"] = agent_text(
        "ledger", "Keeps the books.", body="You reconcile payouts against the ledger."
    )
    ranking = LocalIndex(make_roster(files)).rank("reconcile checkout payouts in the payment flow")
    overall = [c.agent for c in ranking.candidates]
    assert overall.index("ledger") >= 15  # its total score trails the sixteen payment agents
    assert "ledger" in ranking.shortlist and len(ranking.shortlist) == 15
    assert ranking.shortlist[0] == overall[0]


def test_evidence_counts_only_words_the_runner_up_lacks(
    make_roster: Callable[..., Roster],
) -> None:
    roster = make_roster(
        {
            "a.md": agent_text("infra-engineer", "Writes Terraform modules and cloud networks."),
            "b.md": agent_text("cloud-reviewer", "Reviews cloud networks and costs."),
        }
    )
    ranking = LocalIndex(roster).rank("terraform modules for our cloud networks")
    assert ranking.candidates[0].agent == "infra-engineer"
    terraform, modules = specificity(stem("terraform")), specificity(stem("modules"))
    assert ranking.evidence == terraform + modules  # "cloud" and "networks" both agents have
    assert ranking.strongest_evidence == max(terraform, modules)


def test_rival_overlap_is_high_only_among_near_identical_agents(
    make_roster: Callable[..., Roster],
) -> None:
    near = make_roster(
        {
            "a.md": agent_text("email-copywriter", "Writes email subject lines and body copy."),
            "b.md": agent_text("email-strategist", "Plans email campaigns and subject lines."),
        }
    )
    apart = make_roster(
        {
            "a.md": agent_text("email-copywriter", "Writes email subject lines and body copy."),
            "b.md": agent_text("terraform-engineer", "Writes Terraform modules for networks."),
        }
    )
    request = "write body copy and subject lines for our email"
    close = LocalIndex(near).rank(request)
    far = LocalIndex(apart).rank(request)
    assert close.candidates[0].agent == far.candidates[0].agent == "email-copywriter"
    assert close.rival_overlap > 0.2 > far.rival_overlap
    assert far.rival_overlap >= 0.0


def test_evidence_share_and_near_rivals(make_roster: Callable[..., Roster]) -> None:
    roster = make_roster(
        {
            "a.md": agent_text("infra-engineer", "Writes Terraform modules and cloud networks."),
            "b.md": agent_text("cloud-reviewer", "Reviews cloud networks and costs."),
            "c.md": agent_text("chef", "Cooks pasta."),
        }
    )
    ranking = LocalIndex(roster).rank("terraform modules for our cloud networks")
    own = [stem(word) for word in ("terraform", "modules", "cloud", "networks")]
    assert ranking.evidence_share == ranking.evidence / sum(map(specificity, own))
    assert 0.0 < ranking.evidence_share < 1.0
    assert ranking.near_rivals == 0  # the cloud reviewer scores well under 80% of the top
    same = LocalIndex(roster).rank("cloud networks")
    assert same.near_rivals >= 1  # both agents have both words


def test_example_share_is_the_part_of_the_score_examples_give(
    make_roster: Callable[..., Roster],
) -> None:
    roster = make_roster({"backend.md": BACKEND, "frontend.md": FRONTEND})
    from_examples = LocalIndex(roster).rank("real-time notification service for user alerts")
    from_description = LocalIndex(roster).rank("database schemas and background jobs")
    assert from_examples.candidates[0].agent == "backend-feature-developer"
    assert from_description.candidates[0].agent == "backend-feature-developer"
    assert from_examples.example_share > 0.5
    assert from_description.example_share == 0.0
