"""Regression guards from `bench/routing_eval.py`: the development set and the corpus pairs.

Needs AGENT_CORPUS_DIR (the development set's rosters come from the corpus too).
"""

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.routing.local import LocalIndex
from tests.conftest import PROJECT_ROOT

CORPUS = os.environ.get("AGENT_CORPUS_DIR")
pytestmark = pytest.mark.skipif(
    not CORPUS or not (Path(CORPUS) / "routing_pairs.jsonl").is_file(),
    reason="AGENT_CORPUS_DIR is not set or holds no corpus; .ci/run sets it to "
    "../shared/agent-corpus",
)


def load_bench() -> ModuleType:
    path = PROJECT_ROOT / "bench" / "routing_eval.py"
    spec = importlib.util.spec_from_file_location("routing_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["routing_eval"] = module
    spec.loader.exec_module(module)
    return module


def test_development_set_cross_validated() -> None:
    """On requests written against distinct roles, the local step decides often and rightly."""
    bench = load_bench()
    dev = bench.DevSet(Path(str(CORPUS)).resolve())
    rows = [
        bench.score_row(LocalIndex(dev.rosters[r["roster"]]).rank(r["text"]), r["agent"])
        for r in dev.rows
        if r["roster"] not in dev.near_identical
    ]
    assert len(rows) >= 150
    count, wrong, chatter = bench.cross_validate(rows, 5)
    assert count >= 0.45 * len(rows), f"local step decided only {count}/{len(rows)}"
    assert wrong < 0.05 * count, f"{wrong} of {count} local decisions were wrong"
    assert chatter == 0
    labelled, found = bench.in_candidates(rows)
    assert found >= 0.98 * labelled


def test_development_set_near_identical_agents() -> None:
    """Among near-identical agents the shipped gates (not tuned there) are rarely wrong."""
    bench = load_bench()
    dev = bench.DevSet(Path(str(CORPUS)).resolve())
    rows = [
        bench.score_row(LocalIndex(dev.rosters[r["roster"]]).rank(r["text"]), r["agent"])
        for r in dev.rows
        if r["roster"] in dev.near_identical
    ]
    assert len(rows) >= 60
    count, wrong = bench.decided(rows, bench.SHIPPED)
    assert count and wrong < 0.05 * count, (count, wrong)
    assert not any(bench.decides(row, bench.SHIPPED) for row in rows if row.gold is None)
    labelled, found = bench.in_candidates(rows)
    assert found >= 0.98 * labelled


def test_whole_example_out_corpus_decides_little_and_shortlists_the_agent() -> None:
    """Held-out pairs among near-identical agents: few local decisions; a good shortlist."""
    bench = load_bench()
    corpus = bench.Corpus(Path(str(CORPUS)).resolve())
    rows = [
        bench.score_row(
            LocalIndex(corpus.roster_for(pair, bench.without_example)).rank(pair["request"]),
            pair["agent"],
        )
        for pair in corpus.pairs
    ]
    count, wrong = bench.decided(rows, bench.SHIPPED)
    assert wrong < 0.05 * count and count <= 0.15 * len(rows), (count, wrong)
    labelled, found = bench.in_candidates(rows)
    assert found >= 0.98 * labelled, f"{found}/{labelled} in the model's candidates"
