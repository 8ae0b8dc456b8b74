"""Every public agent file in the corpus reads as Claude Code reads it."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from bot.agents.model import ReadMode, normalise_tools
from bot.agents.parser import parse_agent_file
from bot.agents.registry import AgentRegistry


@pytest.fixture(scope="module")
def corpus() -> Path:
    folder = os.environ.get("AGENT_CORPUS_DIR")
    if not folder:
        pytest.skip("AGENT_CORPUS_DIR is not set; .ci/run sets it to ../shared/agent-corpus")
    path = Path(folder)
    if not (path / "expected.jsonl").exists():
        pytest.skip(f"AGENT_CORPUS_DIR={folder} has no expected.jsonl")
    return path


def test_every_corpus_file_matches_expected(corpus: Path) -> None:
    expected = [json.loads(line) for line in (corpus / "expected.jsonl").open(encoding="utf-8")]
    assert len(expected) == 1279
    mismatches = []
    for row in expected:
        agent = parse_agent_file(corpus / row["file"]).agent
        if agent is None:
            mismatches.append((row["file"], "not loaded"))
            continue
        got = {
            "name": agent.name,
            "description_sha256": hashlib.sha256(agent.description.encode()).hexdigest(),
            "tools": agent.tools,
            "model": agent.model,
            "strict_yaml": agent.read_mode is ReadMode.STRICT,
        }
        want = {
            "name": row["name"],
            "description_sha256": row["description_sha256"],
            "tools": normalise_tools(row["tools"]),
            "model": row["model"],
            "strict_yaml": row["strict_yaml"],
        }
        if got != want:
            mismatches.append(
                (row["file"], {k: (got[k], want[k]) for k in got if got[k] != want[k]})
            )
    assert mismatches == []


def test_registry_reads_the_whole_corpus(corpus: Path) -> None:
    roster = AgentRegistry(corpus).roster()
    assert len(roster.files) == 1279
    assert all(report.usable for report in roster.files)
    assert sum(report.read_mode is ReadMode.TOLERANT for report in roster.files) == 59


def test_examples_hold_every_labelled_routing_request(corpus: Path) -> None:
    missing = []
    for line in (corpus / "routing_pairs.jsonl").open(encoding="utf-8"):
        pair = json.loads(line)
        agent = parse_agent_file(corpus / pair["file"]).agent
        assert agent is not None
        requests = agent.examples[pair["example"]].user_requests
        if pair["turn"] >= len(requests) or requests[pair["turn"]] != pair["request"]:
            missing.append((pair["file"], pair["example"], pair["request"]))
    assert missing == []
