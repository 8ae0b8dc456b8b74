"""Evaluate local routing on the corpus's routing pairs, and time it on all corpus agents.

Run: .venv/bin/python bench/routing_eval.py [--tune] [--show-errors]

Each pair of `routing_pairs.jsonl` (request, agent) is routed among the agents of its own
repository, with the tested request left out of the index: it is removed from the agent's
description and from its parsed `<example>` blocks. That is the issue's protocol; the rest
of that `<example>` block (context, the assistant's answer, the commentary) stays. A stricter
run that drops the whole block is printed too, because those leftovers often paraphrase the
request. Figures are printed for non-proactive and proactive pairs separately (a proactive
request is the earlier task, so the request alone does not name the agent).

The baseline is plain BM25 (`bm25s`, its own tokeniser and English stopwords) over each
agent's name and description, under the same protocol, always deciding.

`--tune` searches the floor and margin on the non-proactive pairs (most pairs decided with
under 5% of those wrong) and estimates how that choice generalises by leave-one-out: each
pair is judged with the floor and margin tuned on the other pairs.

The corpus folder comes from AGENT_CORPUS_DIR (default: ../shared/agent-corpus next to the
project root).
"""

import argparse
import dataclasses
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

try:
    import bm25s

    from bot.agents.model import AgentDefinition, ExampleTurn
    from bot.agents.parser import parse_agent_file
    from bot.routing.decision import Candidate
    from bot.routing.local import LocalIndex
    from bot.routing.router import LOCAL_FLOOR, LOCAL_MARGIN, local_lead
except ImportError:  # run without the editable install: import from the checkout
    sys.path.insert(0, str(ROOT))
    import bm25s

    from bot.agents.model import AgentDefinition, ExampleTurn
    from bot.agents.parser import parse_agent_file
    from bot.routing.decision import Candidate
    from bot.routing.local import LocalIndex
    from bot.routing.router import LOCAL_FLOOR, LOCAL_MARGIN, local_lead

_EXAMPLE_BLOCK = re.compile(r"<example>.*?</example>", re.DOTALL | re.IGNORECASE)

Pair = dict[str, Any]
Scored = tuple[float, float, bool]  # top score, lead over the runner-up, top is right


def corpus_dir() -> Path:
    """The corpus folder named by AGENT_CORPUS_DIR, or the shared one beside the project."""
    configured = os.environ.get("AGENT_CORPUS_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return (ROOT.parent / "shared" / "agent-corpus").resolve()


def load_repository(folder: Path) -> list[AgentDefinition]:
    """Every usable agent file in one repository folder (hidden files included)."""
    paths = sorted(Path(e.path) for e in os.scandir(folder) if e.name.lower().endswith(".md"))
    return [agent for agent in (parse_agent_file(p).agent for p in paths) if agent]


def without_request(agent: AgentDefinition, pair: Pair) -> AgentDefinition:
    """The agent with the pair's request removed from its description and examples."""
    request = pair["request"]
    description = agent.description.replace("\\n", "\n").replace(request, " ")
    examples = list(agent.examples)
    example = examples[pair["example"]]
    turns: list[ExampleTurn] = []
    seen = -1
    for turn in example.turns:
        if turn.role == "user":
            seen += 1
            if seen == pair["turn"]:
                continue
        turns.append(turn)
    examples[pair["example"]] = dataclasses.replace(example, turns=tuple(turns))
    return dataclasses.replace(agent, description=description, examples=tuple(examples))


def without_example(agent: AgentDefinition, pair: Pair) -> AgentDefinition:
    """The agent with the pair's whole `<example>` block removed."""
    text = agent.description.replace("\\n", "\n")
    block = list(_EXAMPLE_BLOCK.finditer(text))[pair["example"]]
    examples = tuple(e for i, e in enumerate(agent.examples) if i != pair["example"])
    description = text[: block.start()] + text[block.end() :]
    return dataclasses.replace(agent, description=description, examples=examples)


class Corpus:
    """The routing pairs and, per repository, its agents."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        lines = (directory / "routing_pairs.jsonl").read_text(encoding="utf-8").splitlines()
        self.pairs: list[Pair] = [json.loads(line) for line in lines if line.strip()]
        self._repositories: dict[str, list[AgentDefinition]] = {}

    def repository(self, folder: str) -> list[AgentDefinition]:
        """The agents of one repository folder, parsed once."""
        if folder not in self._repositories:
            self._repositories[folder] = load_repository(self.directory / folder)
        return self._repositories[folder]

    def roster_for(
        self, pair: Pair, leave_out: Callable[[AgentDefinition, Pair], AgentDefinition]
    ) -> list[AgentDefinition]:
        """The pair's repository agents (its own file first, as names repeat), one left out."""
        folder, file_name = pair["file"].split("/", 1)
        agents = self.repository(folder)
        own = next(a for a in agents if a.source.name == file_name)
        others = [a for a in agents if a.name != own.name]
        return [leave_out(own, pair), *others]

    def all_agents(self) -> list[AgentDefinition]:
        """Every agent in the corpus; repeated names get their repository appended."""
        agents: list[AgentDefinition] = []
        seen: set[str] = set()
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            if not entry.is_dir():
                continue
            for agent in self.repository(entry.name):
                name = agent.name if agent.name not in seen else f"{agent.name} ({entry.name})"
                seen.add(name)
                agents.append(dataclasses.replace(agent, name=name))
        return agents


def baseline_top(agents: list[AgentDefinition], request: str) -> str:
    """Plain BM25 over name and description: the best-scoring agent, always."""
    corpus = [f"{agent.name} {agent.description}" for agent in agents]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
    )
    query = bm25s.tokenize(request, stopwords="en", return_ids=False, show_progress=False)[0]
    scores = retriever.get_scores(query) if query else np.zeros(len(agents))
    return agents[int(np.argmax(scores))].name


def scored(candidates: list[Candidate], gold: str) -> Scored:
    """The numbers the local decision looks at, and whether the top candidate is right."""
    top = candidates[0].score if candidates else 0.0
    return top, local_lead(candidates), bool(candidates) and candidates[0].agent == gold


def decided(rows: Iterable[Scored], floor: float, margin: float) -> tuple[int, int]:
    """How many rows the local step decides alone, and how many of those are wrong."""
    chosen = [ok for top, lead, ok in rows if top >= floor and lead >= margin]
    return len(chosen), sum(not ok for ok in chosen)


def tune(rows: list[Scored], max_error: float = 0.05) -> tuple[float, float, int, int]:
    """The floor and margin deciding the most rows with under `max_error` wrong.

    Ties go to the strictest setting (largest floor + margin) that decides as many.
    """
    best = (1.0, 1.0, 0, 0)
    for floor in np.arange(0.0, 0.5, 0.01):
        for margin in np.arange(0.0, 1.0, 0.01):
            count, wrong = decided(rows, float(floor), float(margin))
            if not count or wrong >= max_error * count:
                continue
            if count > best[2] or (count == best[2] and floor + margin > best[0] + best[1]):
                best = (round(float(floor), 2), round(float(margin), 2), count, wrong)
    return best


def leave_one_out(rows: list[Scored]) -> tuple[int, int]:
    """Decided and wrong when each row is judged by a floor and margin tuned without it."""
    count = wrong = 0
    for index, (top, lead, ok) in enumerate(rows):
        floor, margin, _, _ = tune(rows[:index] + rows[index + 1 :])
        if top >= floor and lead >= margin:
            count += 1
            wrong += not ok
    return count, wrong


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   - "


def evaluate(corpus: Corpus, args: argparse.Namespace) -> None:
    protocols = {"request left out": without_request, "whole example left out": without_example}
    print(f"local decision: floor {LOCAL_FLOOR}, margin {LOCAL_MARGIN} (lead over runner-up)")
    print(
        f"{'protocol':24} {'pairs':12} {'n':>4} {'baseline':>9} {'top-1':>7} "
        f"{'decided':>8} {'wrong when decided':>19}"
    )
    tuning_rows: list[Scored] = []
    for label, leave_out in protocols.items():
        for proactive in (False, True):
            pairs = [p for p in corpus.pairs if bool(p["proactive_hint"]) is proactive]
            rows: list[Scored] = []
            baseline_right = 0
            for pair in pairs:
                agents = corpus.roster_for(pair, leave_out)
                baseline_right += baseline_top(agents, pair["request"]) == pair["agent"]
                candidates = LocalIndex(agents).score(pair["request"])
                rows.append(scored(candidates, pair["agent"]))
                top, lead, ok = rows[-1]
                if args.show_errors and not ok and top >= LOCAL_FLOOR and lead >= LOCAL_MARGIN:
                    print(f"  wrong: {pair['request'][:70]!r} → {candidates[0].agent}")
            count, wrong = decided(rows, LOCAL_FLOOR, LOCAL_MARGIN)
            right = sum(ok for _, _, ok in rows)
            kind = "proactive" if proactive else "non-proactive"
            print(
                f"{label:24} {kind:12} {len(rows):4d} {percent(baseline_right, len(rows)):>9} "
                f"{percent(right, len(rows)):>7} {percent(count, len(rows)):>8} "
                f"{percent(wrong, count):>10} ({wrong}/{count})"
            )
            if label == "request left out" and not proactive:
                tuning_rows = rows
    if args.tune:
        floor, margin, count, wrong = tune(tuning_rows)
        print(
            f"tuned on non-proactive pairs: floor {floor}, margin {margin} → decides "
            f"{count}/{len(tuning_rows)}, {wrong} wrong"
        )
        count, wrong = leave_one_out(tuning_rows)
        print(
            f"leave-one-out estimate of that tuning: decides {percent(count, len(tuning_rows))}, "
            f"wrong {percent(wrong, count)} ({wrong}/{count})"
        )


def timing(corpus: Corpus, runs: int) -> None:
    agents = corpus.all_agents()
    started = time.perf_counter()
    index = LocalIndex(agents)
    build_ms = (time.perf_counter() - started) * 1000
    queries = [pair["request"] for pair in corpus.pairs]
    index.score(queries[0])  # warm up
    times: list[float] = []
    for _ in range(runs):
        for query in queries:
            started = time.perf_counter()
            candidates = index.score(query)
            local_lead(candidates)
            times.append((time.perf_counter() - started) * 1000)
    long_request = " ".join(queries) * (20_000 // len(" ".join(queries)) + 1)
    started = time.perf_counter()
    index.score(long_request[:20_000])
    long_ms = (time.perf_counter() - started) * 1000
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    print(
        f"all {len(agents)} corpus agents: index built in {build_ms:.0f} ms; local routing "
        f"median {statistics.median(times):.2f} ms, p99 {p99:.2f} ms "
        f"({len(times)} requests); a 20,000-character request {long_ms:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="search floor and margin")
    parser.add_argument("--show-errors", action="store_true", help="list wrong local decisions")
    parser.add_argument("--runs", type=int, default=5, help="timing passes over the requests")
    args = parser.parse_args()
    directory = corpus_dir()
    if not (directory / "routing_pairs.jsonl").is_file():
        sys.exit(f"no routing_pairs.jsonl in {directory}: set AGENT_CORPUS_DIR to the corpus")
    corpus = Corpus(directory)
    evaluate(corpus, args)
    timing(corpus, args.runs)


if __name__ == "__main__":
    main()
