"""Match words of a question, or a query's literal, against stored text values.

No model and no database: values are compared after normalisation (case,
accents, whitespace folded; a compact form without spaces and punctuation
too), then by closeness (trigram similarity, confirmed by an edit ratio), so
`zurich`, `ZURICH` and `Zürich` meet and `Germani` finds `Germany`. The value
index (knowledge.values) and the empty-result diagnosis (agent.empty_results)
both read values through this module, so they agree on what "the same" means.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Close enough to be offered: trigram similarity of the compact forms, and
# the edit ratio that confirms it (short words share few trigrams).
MIN_SIMILARITY = 0.35
MIN_RATIO = 0.75
# A value longer than this is prose, not a category the model filters on.
MAX_VALUE_CHARS = 120

_SPACES = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)

# Words too common to be looked up alone (their exact matches are noise).
_STOPWORD_TEXT = """
    a an and any are as at be by can did do does each every for from had has
    have how i in is it its many me much my no not of on or our per show than
    that the their them there these this those to was we were what when where
    which who whose why will with without you your all list give find tell
    most least top more less number count total average sum per each between
    after before during since until over under only also just please
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def value_normalize(text: str) -> str:
    """Return `text` folded for comparison: accents dropped, case folded,
    whitespace collapsed, surrounding punctuation trimmed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = _SPACES.sub(" ", plain.casefold()).strip()
    return folded.strip(" .,;:!?\"'`()[]{}")


def value_compact(text: str) -> str:
    """Return the normalised form without spaces or punctuation (`5 kg` and
    `5kg`, `New-York` and `new york` meet)."""
    return _NOT_ALNUM.sub("", value_normalize(text))


def trigrams(text: str) -> frozenset[str]:
    """Return the padded character trigrams of a compact form."""
    padded = f"  {text} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def similarity(a: str, b: str) -> float:
    """Return how alike two compact forms are (0..1): trigram Jaccard, or the
    edit ratio when that is higher and confident (a transposed letter)."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    ta, tb = trigrams(a), trigrams(b)
    jaccard = len(ta & tb) / len(ta | tb)
    ratio = difflib.SequenceMatcher(None, a, b).ratio()
    return max(jaccard, ratio if ratio >= MIN_RATIO else 0.0)


def close_values(
    text: str, values: Iterable[str], *, limit: int = 5
) -> list[tuple[str, float]]:
    """Return the values closest to `text`, best first, with their similarity;
    equal after normalisation scores 1."""
    wanted = value_compact(text)
    if not wanted:
        return []
    scored = []
    for value in values:
        score = similarity(wanted, value_compact(value))
        if score >= MIN_SIMILARITY:
            scored.append((value, score))
    scored.sort(key=lambda pair: (-pair[1], pair[0]))
    return scored[:limit]


@dataclass(frozen=True)
class StoredValue:
    """One distinct value of one column."""

    table: str
    column: str
    value: str


@dataclass(frozen=True)
class ValueMatch:
    """A phrase of the question and the stored value it stands for."""

    phrase: str
    stored: StoredValue
    score: float

    def line(self) -> str:
        quoted = self.stored.value.replace("'", "''")
        return (
            f'- "{self.phrase}" → {self.stored.table}.{self.stored.column} '
            f"= '{quoted}'"
        )


class ValueSet:
    """Stored values keyed by their compact form, with a trigram index for
    close matches (built once per index version, read by every question)."""

    def __init__(self, values: Sequence[StoredValue]) -> None:
        self.values = list(values)
        self.by_key: dict[str, list[int]] = {}
        self.postings: dict[str, list[int]] = {}
        for position, stored in enumerate(self.values):
            key = value_compact(stored.value)
            if not key:
                continue
            self.by_key.setdefault(key, []).append(position)
            for gram in trigrams(key):
                self.postings.setdefault(gram, []).append(position)

    def exact(self, phrase: str) -> list[StoredValue]:
        return [self.values[i] for i in self.by_key.get(value_compact(phrase), [])]

    def close(self, phrase: str, *, limit: int = 3) -> list[tuple[StoredValue, float]]:
        key = value_compact(phrase)
        if len(key) < 4:
            return []
        shared: Counter[int] = Counter()
        for gram in trigrams(key):
            shared.update(self.postings.get(gram, ()))
        found = []
        for position, _count in shared.most_common(50):
            stored = self.values[position]
            score = similarity(key, value_compact(stored.value))
            if score >= MIN_SIMILARITY and score >= 0.5:
                found.append((stored, score))
        found.sort(key=lambda pair: -pair[1])
        return found[:limit]


# Straight and typographic double and single quotes (the latter as escapes).
_QUOTED = re.compile(
    '"([^"]{1,80})"|\u201c([^\u201d]{1,80})\u201d'
    "|\u2018([^\u2019]{1,80})\u2019|'([^']{1,80})'"
)
_APOSTROPHES = "'\u2019"
_WORD = re.compile(rf"[\w][\w{_APOSTROPHES}.-]*", re.UNICODE)
_NUMBER_UNIT = re.compile(r"\b\d+(?:[.,]\d+)?\s?[A-Za-z%°]{1,6}\b")
_DATE = re.compile(r"\b\d{4}-\d{2}(?:-\d{2})?\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")


def question_phrases(
    question: str, *, max_words: int = 3
) -> tuple[list[str], list[str]]:
    """Return (phrases to look up exactly, phrases worth a close match).

    Exact: quoted strings, numbers with units, dates, and every run of one to
    `max_words` words not made of stopwords alone. Close: quoted strings,
    capitalised words and phrases (proper nouns), and longer uncommon words.
    """
    quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(question)]
    special = [m.group(0) for m in _NUMBER_UNIT.finditer(question)]
    special += [m.group(0) for m in _DATE.finditer(question)]
    words = [w.strip(f".{_APOSTROPHES}-") for w in _WORD.findall(question)]
    words = [w for w in words if w]
    grams: list[str] = []
    for size in range(max_words, 0, -1):
        for start in range(len(words) - size + 1):
            chunk = words[start : start + size]
            if all(w.lower() in STOPWORDS for w in chunk):
                continue
            if chunk[0].lower() in STOPWORDS or chunk[-1].lower() in STOPWORDS:
                continue
            if size == 1 and (chunk[0].isdigit() or len(chunk[0]) < 2):
                continue
            grams.append(" ".join(chunk))
    exact = _unique([*quoted, *special, *grams])
    proper: list[str] = []
    run: list[str] = []
    for position, word in enumerate([*words, ""]):
        if word[:1].isupper() and not (position == 0 and word.lower() in STOPWORDS):
            run.append(word)
            continue
        if run:
            proper.append(" ".join(run))
            proper.extend(run if len(run) > 1 else [])
            run = []
    uncommon = [w for w in words if len(w) >= 5 and w.lower() not in STOPWORDS]
    close = _unique([*quoted, *proper, *uncommon])
    return exact, close


def _unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for item in items:
        key = value_compact(item)
        if key and key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def question_matches(
    question: str,
    values: ValueSet,
    *,
    skip: frozenset[str] = frozenset(),
    limit: int = 8,
) -> list[ValueMatch]:
    """Return the stored values the question's phrases stand for, exact matches
    first, at most `limit`. `skip`: compact forms never looked up (the schema's
    own table and column names, which the question uses as names)."""
    exact, close = question_phrases(question)
    matches: list[ValueMatch] = []
    covered: set[str] = set()
    taken: set[StoredValue] = set()
    for phrase in exact:
        key = value_compact(phrase)
        if key in skip or any(key in c for c in covered):
            continue
        found = [s for s in values.exact(phrase) if s not in taken]
        if found:
            covered.add(key)
        for stored in found[:3]:
            taken.add(stored)
            matches.append(ValueMatch(phrase, stored, 1.0))
    for phrase in close:
        key = value_compact(phrase)
        if key in skip or any(key in c for c in covered):
            continue
        for stored, score in values.close(phrase):
            if stored not in taken:
                taken.add(stored)
                covered.add(key)
                matches.append(ValueMatch(phrase, stored, score))
    return matches[:limit]
