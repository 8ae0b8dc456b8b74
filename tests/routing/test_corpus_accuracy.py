"""Regression guard on the public corpus: when local scoring decides alone, it is right.

Uses `bench/routing_eval.py`'s protocol: each pair routed among its repository's agents,
with the tested request left out of the index. Needs AGENT_CORPUS_DIR.
"""

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.routing.local import LocalIndex
from bot.routing.router import LOCAL_FLOOR, LOCAL_MARGIN
from tests.conftest import PROJECT_ROOT

CORPUS = os.environ.get("AGENT_CORPUS_DIR")
pytestmark = pytest.mark.skipif(
    not CORPUS, reason="AGENT_CORPUS_DIR is not set; .ci/run sets it to ../shared/agent-corpus"
)


def load_bench() -> ModuleType:
    path = PROJECT_ROOT / "bench" / "routing_eval.py"
    spec = importlib.util.spec_from_file_location("routing_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["routing_eval"] = module
    spec.loader.exec_module(module)
    return module


def test_local_decisions_on_non_proactive_pairs_are_right() -> None:
    bench = load_bench()
    corpus = bench.Corpus(Path(str(CORPUS)).resolve())
    rows = []
    for pair in corpus.pairs:
        if pair["proactive_hint"]:
            continue
        agents = corpus.roster_for(pair, bench.without_request)
        rows.append(bench.scored(LocalIndex(agents).score(pair["request"]), pair["agent"]))
    decided, wrong = bench.decided(rows, LOCAL_FLOOR, LOCAL_MARGIN)
    assert len(rows) >= 100
    assert decided >= 0.45 * len(rows), f"local step decided only {decided}/{len(rows)}"
    assert wrong <= 0.05 * decided, f"{wrong} of {decided} local decisions were wrong"
    top1 = sum(ok for _, _, ok in rows) / len(rows)
    assert top1 >= 0.70, f"top-1 accuracy fell to {top1:.1%}"
