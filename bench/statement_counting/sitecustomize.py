"""Counts the SQL statements of a process the benchmarks start, when they ask for it.

The benchmarks put this folder on PYTHONPATH and set AGENTDESK_BENCH_STATEMENTS_DIR for the
app they start (its worker processes inherit both); Python imports `sitecustomize` at start.
Each process then counts every statement SQLAlchemy sends, by its first word and the first
table it names (`SELECT conversations`), and every commit, and writes the counts to
DIR/PID.json ten times a second. Nothing of the app is changed.
"""

import os

_DIRECTORY = os.environ.get("AGENTDESK_BENCH_STATEMENTS_DIR")


def _install(directory: str) -> None:
    import atexit
    import json
    import re
    import threading
    import time
    from collections import Counter
    from pathlib import Path
    from typing import Any

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts: Counter[str] = Counter()
    path = Path(directory) / f"{os.getpid()}.json"

    table = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)', re.IGNORECASE)

    def count_statement(*args: Any, **_: Any) -> None:
        statement: str = args[2]
        words = statement.split(None, 1)
        kind = words[0].upper() if words else "?"
        named = table.search(statement)
        counts[f"{kind} {named.group(1)}" if named else kind] += 1

    def count_commit(*_: Any) -> None:
        counts["COMMIT"] += 1

    def write() -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(dict(counts)))
        temporary.replace(path)

    def keep_writing() -> None:
        while True:
            write()
            time.sleep(0.1)

    event.listen(Engine, "before_cursor_execute", count_statement)
    event.listen(Engine, "commit", count_commit)
    threading.Thread(target=keep_writing, name="bench-statement-counts", daemon=True).start()
    atexit.register(write)


if _DIRECTORY:
    _install(_DIRECTORY)
