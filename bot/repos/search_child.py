"""The child process of the Python search: a request on stdin, one JSON match a line out.

Run as `python -I -m bot.repos.search_child` by `python_search`, which kills it at the deadline.
"""

import json
import sys
from pathlib import Path

from bot.repos.search import compile_pattern, matching_lines


def main() -> None:
    """Search as the request says, printing each match as soon as it is found."""
    request = json.load(sys.stdin)
    regex = compile_pattern(request["pattern"], ignore_case=request["ignore_case"])
    matches = matching_lines(
        root=Path(request["root"]),
        files=request["files"],
        regex=regex,
        max_file_bytes=request["max_file_bytes"],
    )
    for found, (rel, number, line) in enumerate(matches, start=1):
        text = line.rstrip("\r")[: request["line_chars"] + 1]  # one more: the parent sees a cut
        print(json.dumps([rel, number, text]), flush=True)
        if found >= request["limit"]:
            return


if __name__ == "__main__":
    main()
