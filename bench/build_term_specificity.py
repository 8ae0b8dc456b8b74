"""Write `bot/routing/data/term_frequency.json.gz`: in how many agents each word appears.

Run: .venv/bin/python bench/build_term_specificity.py

Counts, over every agent of the public corpus (AGENT_CORPUS_DIR), the agents whose name,
description prose or body contain each term. `<example>` blocks are left out, so no request
of the corpus's labelled routing pairs is counted. The router reads it as a background of
how common a word is among agent definitions in the wild ("api", "review" and "add" are
everywhere; "terraform" and "figma" are not).
"""

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from routing_eval import Corpus, corpus_dir  # noqa: E402

from bot.agents.description import prose  # noqa: E402
from bot.routing.specificity import DATA_FILE  # noqa: E402
from bot.routing.terms import name_words, terms  # noqa: E402

BODY_CHAR_LIMIT = 6000


def main() -> None:
    agents = Corpus(corpus_dir()).all_agents()
    counts: Counter[str] = Counter()
    for agent in agents:
        text = f"{name_words(agent.name)} {prose(agent.description)} {agent.body[:BODY_CHAR_LIMIT]}"
        counts.update(set(terms(text)))
    kept = {term: count for term, count in sorted(counts.items()) if count >= 2}
    payload = {"documents": len(agents), "frequency": kept}
    with gzip.open(DATA_FILE, "wt", encoding="utf-8") as out:
        json.dump(payload, out, separators=(",", ":"), sort_keys=True)
    print(f"{len(kept)} terms over {len(agents)} agents → {DATA_FILE}")


if __name__ == "__main__":
    main()
