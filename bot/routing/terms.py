"""Turning requests and agent descriptions into terms, and the roster into a coverage note."""

import re
import unicodedata
from functools import lru_cache

import Stemmer

from bot.agents.description import summary
from bot.agents.model import AgentDefinition

# A long request is routed on its opening: the ask is nearly always stated first, and
# scoring cost grows with the number of distinct terms.
QUERY_CHAR_LIMIT = 4000
QUERY_TERM_LIMIT = 128

# Word boundaries inside code identifiers: `emailService`, `HTTPServer`. A capital after a
# single lower-case letter (`jQuery`, `iOS`) or before more capitals (`PostgreSQL`, `GraphQL`)
# is part of a product name, not a boundary.
_CAMEL = re.compile(r"(?<=[a-z0-9]{2})(?=[A-Z][a-z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"\w+")
# Product names written like identifiers whose parts would mislead (`JavaScript` is not Java).
_WHOLE_WORDS = frozenset(
    [
        "javascript",
        "typescript",
        "coffeescript",
        "actionscript",
        "github",
        "gitlab",
        "bitbucket",
        "websocket",
        "devops",
        "youtube",
        "wordpress",
        "woocommerce",
        "postgresql",
        "mysql",
        "mongodb",
        "dynamodb",
        "cockroachdb",
        "firebase",
        "supabase",
        "fastapi",
        "graphql",
        "openai",
        "chatgpt",
        "linkedin",
        "hubspot",
        "quickbooks",
        "salesforce",
        "testflight",
        "xcode",
        "swiftui",
        "jetpack",
        "playwright",
    ]
)
# Names whose punctuation is the name.
_SYMBOL_WORDS = (
    (re.compile(r"(?i)(?<!\w)c\+\+"), " cpp "),
    (re.compile(r"(?i)(?<!\w)c#"), " csharp "),
    (re.compile(r"(?i)(?<!\w)f#"), " fsharp "),
    (re.compile(r"(?i)(?<![\w.])\.net\b"), " dotnet "),
)
# Scripts written without spaces between words: indexed as overlapping character pairs.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

# English function words, plus the small talk that carries no hint of what someone wants
# ("hi", "thanks", "can you help"), so a greeting matches no agent at all.
_STOPWORD_TEXT = """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each else etc even ever every few for from further get gets getting got had
    has have having he her here hers herself him himself his how i if in into is isn it its
    itself just let lets like ll make me might more most must my myself need needs no nor not
    now of off on once only or other our ours ourselves out over own please re really same
    shall she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up us use used using very ve want was we well
    were what when where which while who whom why will with would yes yet you your yours
    yourself yourselves
    hello hi hey hiya howdy greetings morning afternoon evening night thanks thank thx cheers
    bye goodbye ok okay sure great good nice cool fine awesome yeah yep nope maybe help anyone
    somebody someone something anything question today tomorrow tonight
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def terms(text: str, *, limit_chars: int | None = None) -> list[str]:
    """Lower-cased content words, each reduced to its Snowball stem (see `stem`).

    Product names stay one word (`jQuery` → `jqueri`, `iOS` → `ios`, `PostgreSQL` →
    `postgresql`, `C++` → `cpp`); a code identifier gives its whole and its parts
    (`EmailService` → `emailservic`, `email`, `servic`); `snake_case` is split.
    """
    text = unicodedata.normalize("NFKC", text[:limit_chars] if limit_chars else text)
    for pattern, replacement in _SYMBOL_WORDS:
        text = pattern.sub(replacement, text)
    found: list[str] = []
    for match in _WORD.finditer(text.replace("_", " ")):
        original = match.group()
        parts = _CAMEL.split(original)
        split = len(parts) > 1 and original.casefold() not in _WHOLE_WORDS
        words = [original] + (parts if split else [])
        for word in (w.casefold() for w in words):
            if _UNSPACED.search(word):
                found.extend(word[i : i + 2] for i in range(max(1, len(word) - 1)))
            elif len(word) > 1 and word not in STOPWORDS and not (word.isdigit() and len(word) < 3):
                found.append(stem(word))
    return found


def query_terms(text: str) -> list[str]:
    """The distinct terms of a request, from its opening, at most `QUERY_TERM_LIMIT`."""
    unique = dict.fromkeys(terms(text, limit_chars=QUERY_CHAR_LIMIT))
    return list(unique)[:QUERY_TERM_LIMIT]


_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball's English stem: `refactored` → `refactor`, `implementation` → `implement`.

    Words of three letters or fewer (`ios`, `api`) and non-ASCII words are kept as they are.
    """
    if len(word) <= 3 or not word.isascii():
        return word
    return str(_STEMMER.stemWord(word))


def name_words(name: str) -> str:
    """An agent name as words: `backend-feature-developer` → `backend feature developer`."""
    return " ".join(re.split(r"[-_\s]+", name)).strip()


def coverage(agents: list[AgentDefinition]) -> str:
    """What the agents cover, one line each, for a polite answer when none fits."""
    if not agents:
        return "No agents are loaded yet, so there is nobody to hand this to."
    lines = [f"- {agent.name}: {summary(agent)}" for agent in agents]
    return "Here is what the agents cover:\n" + "\n".join(lines)
