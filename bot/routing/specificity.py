"""How specific a word is among agent definitions in the wild, from a shipped frequency table.

The table (`data/term_frequency.json.gz`, written by `bench/build_term_specificity.py`) counts
the public agents whose name, description or body use each term. Words every agent uses
("api", "review", "add") say little about which agent a request is for; "terraform" says a
lot. A roster's own frequencies can't tell that apart with five agents.
"""

import gzip
import json
from functools import cache
from math import log
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "term_frequency.json.gz"


@cache
def _table() -> tuple[int, dict[str, int]]:
    with gzip.open(DATA_FILE, "rt", encoding="utf-8") as source:
        data = json.load(source)
    return int(data["documents"]), {str(k): int(v) for k, v in data["frequency"].items()}


def specificity(term: str) -> float:
    """Inverse document frequency of a term over the public agents; rarest words highest."""
    documents, frequency = _table()
    count = frequency.get(term, 0)
    return log(1 + (documents - count + 0.5) / (count + 0.5))
