"""A connection's knowledge as a retrieval index, built once per change of it.

Building reads every example, instruction and description and tokenizes them:
its cost grows with the knowledge. So the index is kept per process, keyed by
the connection and its knowledge marker (`knowledge.versions`); the ranker of
tables is kept in it per list of table names. A question costs one indexed
read of the marker plus scoring, which touches only the documents that share a
word with the question. Texts are not kept: the few retrieved are read back by
id.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from knowledge.models import Example, Instruction, SchemaNote
from knowledge.versions import knowledge_version_read

# The most postings (document, word) all cached indexes of a process hold
# (about 16 bytes each), least recently used dropped first.
CACHE_MAX_POSTINGS = 4_000_000
EMPTY_DOCUMENT = ["\u2205"]


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


_CAMEL = re.compile(r"([a-z])([A-Z])")
_WORD = re.compile(r"[a-z0-9]+")
_SQL_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=1 << 16)
def _folded(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("sses"):
        # "businesses", "addresses": business, address.
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _stem(word: str) -> str:
    """Return a word without -ing/-ed ("offering", "offered": "offer")."""
    for ending in ("ing", "ed"):
        if len(word) > len(ending) + 3 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def tokenize(text: str) -> list[str]:
    """Split into lowercase words, `_` and camelCase split, plurals folded."""
    lowered = text.lower()
    if lowered != text:
        lowered = _CAMEL.sub(r"\1 \2", text).lower()
    return [_folded(w) for w in _WORD.findall(lowered.replace("_", " "))]


class Bm25:
    """BM25 Okapi, scored as `rank_bm25.BM25Okapi` scores, from an inverted index.

    rank_bm25 scores every document for every word of the question; this keeps,
    per word, the documents that hold it and their term weight, so a question
    costs what its words' documents cost.
    """

    k1 = 1.5
    b = 0.75
    epsilon = 0.25

    def __init__(self, corpus: Sequence[Sequence[str]]) -> None:
        self.size = len(corpus)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.idf: dict[str, float] = {}
        if not self.size:
            return
        # Word ids in the order words first appear, as rank_bm25 counts them.
        vocabulary: dict[str, int] = {}
        word_ids: list[int] = []
        counts: list[int] = []
        owners: list[int] = []
        for position, document in enumerate(corpus):
            counted = Counter(document)
            word_ids.extend(
                [vocabulary.setdefault(w, len(vocabulary)) for w in counted]
            )
            counts.extend(counted.values())
            owners.extend([position] * len(counted))
        ids = np.array(word_ids, dtype=np.int64)
        # Grouped by word, documents in order within each word.
        order = np.argsort(ids, kind="stable")
        where = np.array(owners, dtype=np.int64)[order]
        tf = np.array(counts, dtype=np.int64)[order]
        holders = np.bincount(ids, minlength=len(vocabulary)).tolist()
        lengths = np.array([len(d) for d in corpus], dtype=np.int64)
        average_length = int(lengths.sum()) / self.size
        # The same operations in the same order as rank_bm25: the same floats.
        norm = self.k1 * (1 - self.b + self.b * lengths[where] / average_length)
        term = tf * (self.k1 + 1) / (tf + norm)
        idf_sum = 0.0
        negative = []
        for word, held in zip(vocabulary, holders, strict=True):
            idf = math.log(self.size - held + 0.5) - math.log(held + 0.5)
            self.idf[word] = idf
            idf_sum += idf
            if idf < 0:
                negative.append(word)
        floor = self.epsilon * (idf_sum / len(self.idf)) if self.idf else 0.0
        for word in negative:
            self.idf[word] = floor
        start = 0
        for word, held in zip(vocabulary, holders, strict=True):
            self.postings[word] = (
                where[start : start + held],
                term[start : start + held],
            )
            start += held

    @property
    def weight(self) -> int:
        return sum(len(where) for where, _ in self.postings.values())

    @functools.cached_property
    def vocabulary(self) -> tuple[str, ...]:
        """Every word of the documents (for finding the words a word is part of)."""
        return tuple(self.postings)

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """Return every document's score (0 for those without a query word)."""
        score = np.zeros(self.size)
        for word in query:
            posting = self.postings.get(word)
            if posting is not None:
                where, term = posting
                score[where] += (self.idf[word] or 0) * term
        return score

    def top(
        self,
        query: Sequence[str],
        k: int,
        keep: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> list[int]:
        """Return the best k documents sharing a word with the query, ties by order.

        `keep` maps candidate positions to a mask of those that may be returned.
        """
        if k <= 0 or not query:
            return []
        holders = [self.postings[w][0] for w in set(query) if w in self.postings]
        if not holders:
            return []
        candidates = np.unique(np.concatenate(holders))
        if keep is not None:
            candidates = candidates[keep(candidates)]
        score = self.scores(query)[candidates]
        order = np.lexsort((candidates, -score))
        return [int(i) for i in candidates[order[:k]]]


# Only the start of an example's SQL is indexed (its words and the tables it
# uses): the SQL may be 20,000 characters long, and an index of 10,000 such
# would take minutes to build and hundreds of MB to keep.
INDEXED_SQL_CHARS = 2000
# Table rankers kept per index, one per list of table names seen (a schema).
TABLE_RANKERS_KEPT = 4


@dataclass
class KnowledgeIndex:
    """What retrieval needs of one connection's knowledge, without its texts."""

    connection_id: int
    token: str
    example_ids: np.ndarray
    # Hashes of the normalized questions, to leave an evaluated set out.
    example_keys: np.ndarray
    examples: Bm25
    instruction_ids: list[int]
    instructions: Bm25
    # For ranking tables: each example's question words, the examples whose
    # SQL holds a word, and the words of the notes on each (lowercased) table.
    question_words: list[tuple[str, ...]]
    sql_words: dict[str, np.ndarray]
    note_words: dict[str, list[str]]
    # Note ids per lowercased table, with their place in the notes' order.
    notes: dict[str, list[tuple[int, int]]]
    _tables: OrderedDict[tuple[tuple[str, ...], bool], Bm25] = field(
        default_factory=OrderedDict
    )
    _tables_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def empty(self) -> bool:
        return not (len(self.example_ids) or self.instruction_ids or self.notes)

    @property
    def weight(self) -> int:
        return (
            self.examples.weight
            + self.instructions.weight
            + sum(len(p) for p in self.sql_words.values())
            + len(self.example_ids)
            + 1
        )

    def tables(
        self,
        table_names: tuple[str, ...],
        columns: Mapping[str, Sequence[str]] | None = None,
    ) -> Bm25:
        """Return the ranker of these tables: by name, notes and examples'
        questions, and by their columns' names when given.

        Built once per list of names (the schema changes far less often than
        the questions come), from what the index holds.
        """
        key = (table_names, columns is not None)
        with self._tables_lock:
            ranker = self._tables.get(key)
            if ranker is None:
                ranker = self._tables_build(table_names, columns or {})
                self._tables[key] = ranker
                if len(self._tables) > TABLE_RANKERS_KEPT:
                    self._tables.popitem(last=False)
            self._tables.move_to_end(key)
            return ranker

    def _tables_build(
        self, table_names: tuple[str, ...], columns: Mapping[str, Sequence[str]]
    ) -> Bm25:
        # A name twice, its columns' words once, its notes, then the questions
        # of examples using it.
        names = {t.lower(): t for t in table_names}
        docs = []
        for table in table_names:
            key = table.lower()
            named = tokenize(names[key])
            # With their stems, as the question's words are ranked (retrieval).
            named += [s for s in map(_stem, named) if s not in named]
            held = [w for c in columns.get(table, ()) for w in tokenize(c)]
            held += [s for s in map(_stem, held) if s not in held]
            doc = named * 2 + held + self.note_words.get(key, [])
            for position in self.sql_words.get(key, ()):
                doc.extend(self.question_words[position])
            docs.append(doc or EMPTY_DOCUMENT)
        return Bm25(docs)


def index_build(*, connection_id: int, token: str) -> KnowledgeIndex:
    """Read the connection's knowledge (three queries) and index it."""
    example_ids: list[int] = []
    example_keys: list[int] = []
    example_docs: list[list[str]] = []
    question_words: list[tuple[str, ...]] = []
    sql_words: dict[str, list[int]] = {}
    rows = Example.objects.filter(
        connection_id=connection_id, verified=True
    ).values_list("id", "question", "sql", "instructions")
    for position, (pk, question, sql, note) in enumerate(
        rows.iterator(chunk_size=2000)
    ):
        asked = tokenize(question)
        sql = sql[:INDEXED_SQL_CHARS]
        example_ids.append(pk)
        example_keys.append(hash(normalize(question)))
        doc = asked + asked + tokenize(sql) + tokenize(note)
        example_docs.append(doc or EMPTY_DOCUMENT)
        question_words.append(tuple(sys.intern(w) for w in asked))
        for word in set(_SQL_WORD.findall(sql.lower())):
            sql_words.setdefault(word, []).append(position)
    rules: list[tuple[int, str]] = list(
        Instruction.objects.filter(connection_id=connection_id).values_list(
            "id", "text"
        )
    )
    notes: dict[str, list[tuple[int, int]]] = {}
    note_words: dict[str, list[str]] = {}
    note_rows = SchemaNote.objects.filter(connection_id=connection_id).values_list(
        "id", "table_name", "column_name", "description"
    )
    for position, (pk, table, column, description) in enumerate(note_rows):
        notes.setdefault(table.lower(), []).append((position, pk))
        note_words.setdefault(table.lower(), []).extend(
            tokenize(column) + tokenize(description)
        )
    return KnowledgeIndex(
        connection_id=connection_id,
        token=token,
        example_ids=np.array(example_ids, dtype=np.int64),
        example_keys=np.array(example_keys, dtype=np.int64),
        examples=Bm25(example_docs),
        instruction_ids=[pk for pk, _ in rules],
        instructions=Bm25([tokenize(text) or EMPTY_DOCUMENT for _, text in rules]),
        question_words=question_words,
        sql_words={
            word: np.array(positions, dtype=np.int32)
            for word, positions in sql_words.items()
        },
        note_words=note_words,
        notes=notes,
    )


class _IndexCache:
    """The indexes of this process, one per connection, bounded by their size."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: OrderedDict[int, KnowledgeIndex] = OrderedDict()
        self._building: dict[int, threading.Lock] = {}

    def _current(self, connection_id: int, token: str) -> KnowledgeIndex | None:
        with self._lock:
            index = self._indexes.get(connection_id)
            if index is None or index.token != token:
                return None
            self._indexes.move_to_end(connection_id)
            return index

    def get(self, connection_id: int) -> KnowledgeIndex:
        """Return the connection's index, built only if its knowledge changed."""
        token = knowledge_version_read(connection_id)
        index = self._current(connection_id, token)
        if index is not None:
            return index
        with self._lock:
            building = self._building.setdefault(connection_id, threading.Lock())
        # One build per change, even when many questions arrive right after it.
        with building:
            index = self._current(connection_id, token)
            if index is not None:
                return index
            index = index_build(connection_id=connection_id, token=token)
            self._store(index)
        return index

    def _store(self, index: KnowledgeIndex) -> None:
        with self._lock:
            self._indexes[index.connection_id] = index
            self._indexes.move_to_end(index.connection_id)
            total = sum(i.weight for i in self._indexes.values())
            while total > CACHE_MAX_POSTINGS and len(self._indexes) > 1:
                _, dropped = self._indexes.popitem(last=False)
                total -= dropped.weight

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()


index_cache = _IndexCache()
