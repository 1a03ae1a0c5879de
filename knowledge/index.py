"""A connection's knowledge as a retrieval index, built once per change of it.

Building reads every example, instruction and description and tokenizes them:
its cost grows with the knowledge. So the index is kept per process, keyed by
the connection, its knowledge marker (`knowledge.versions`) and the schema's
table names, and a question costs one indexed read of the marker plus scoring,
which touches only the documents that share a word with the question. Texts
are not kept: the few retrieved are read back by id.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
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


def tokenize(text: str) -> list[str]:
    """Split into lowercase words, `_` and camelCase split, plurals folded."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    words = re.findall(r"[a-z0-9]+", text.lower().replace("_", " "))
    folded = []
    for word in words:
        if len(word) > 3 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        folded.append(word)
    return folded


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
        documents: dict[str, list[int]] = {}
        frequencies: dict[str, list[int]] = {}
        lengths = np.array([len(d) for d in corpus], dtype=np.int64)
        for position, document in enumerate(corpus):
            counts: dict[str, int] = {}
            for word in document:
                counts[word] = counts.get(word, 0) + 1
            for word, count in counts.items():
                documents.setdefault(word, []).append(position)
                frequencies.setdefault(word, []).append(count)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.idf: dict[str, float] = {}
        if not self.size:
            return
        average_length = int(lengths.sum()) / self.size
        # The same operations in the same order as rank_bm25: the same floats.
        idf_sum = 0.0
        negative = []
        for word, holders in documents.items():
            idf = math.log(self.size - len(holders) + 0.5) - math.log(
                len(holders) + 0.5
            )
            self.idf[word] = idf
            idf_sum += idf
            if idf < 0:
                negative.append(word)
        floor = self.epsilon * (idf_sum / len(self.idf)) if self.idf else 0.0
        for word in negative:
            self.idf[word] = floor
        for word, holders in documents.items():
            where = np.array(holders, dtype=np.int64)
            tf = np.array(frequencies[word], dtype=np.int64)
            norm = self.k1 * (1 - self.b + self.b * lengths[where] / average_length)
            self.postings[word] = (where, tf * (self.k1 + 1) / (tf + norm))

    @property
    def weight(self) -> int:
        return sum(len(where) for where, _ in self.postings.values())

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


@dataclass
class KnowledgeIndex:
    """What retrieval needs of one connection's knowledge, without its texts."""

    connection_id: int
    token: str
    table_names: tuple[str, ...]
    example_ids: np.ndarray
    # Hashes of the normalized questions, to leave an evaluated set out.
    example_keys: np.ndarray
    examples: Bm25
    instruction_ids: list[int]
    instructions: Bm25
    tables: Bm25
    # Note ids per lowercased table, in the notes' order (table, column).
    notes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (len(self.example_ids) or self.instruction_ids or self.notes)

    @property
    def weight(self) -> int:
        return self.examples.weight + self.instructions.weight + self.tables.weight + 1


def index_build(
    *, connection_id: int, token: str, table_names: tuple[str, ...]
) -> KnowledgeIndex:
    """Read the connection's knowledge (three queries) and index it."""
    example_ids: list[int] = []
    example_keys: list[int] = []
    example_docs: list[list[str]] = []
    # Per table (lowercased): its name twice, its notes, questions that use it.
    names = {t.lower(): t for t in table_names}
    table_notes: dict[str, list[str]] = {name: [] for name in names}
    table_questions: dict[str, list[str]] = {name: [] for name in names}
    rows = Example.objects.filter(connection_id=connection_id).values_list(
        "id", "question", "sql", "instructions"
    )
    for pk, question, sql, instructions in rows.iterator(chunk_size=2000):
        asked = tokenize(question)
        example_ids.append(pk)
        example_keys.append(hash(normalize(question)))
        doc = asked + asked + tokenize(sql) + tokenize(instructions)
        example_docs.append(doc or EMPTY_DOCUMENT)
        for name in set(re.findall(r"\w+", sql.lower())) & names.keys():
            table_questions[name] += asked
    instructions = list(
        Instruction.objects.filter(connection_id=connection_id).values_list(
            "id", "text"
        )
    )
    notes: dict[str, list[tuple[int, int]]] = {}
    note_rows = SchemaNote.objects.filter(connection_id=connection_id).values_list(
        "id", "table_name", "column_name", "description"
    )
    for position, (pk, table, column, description) in enumerate(note_rows):
        notes.setdefault(table.lower(), []).append((position, pk))
        bag = table_notes.get(table.lower())
        if bag is not None:
            bag += tokenize(column) + tokenize(description)
    table_docs = [
        tokenize(names[t.lower()]) * 2
        + table_notes[t.lower()]
        + table_questions[t.lower()]
        for t in table_names
    ]
    return KnowledgeIndex(
        connection_id=connection_id,
        token=token,
        table_names=table_names,
        example_ids=np.array(example_ids, dtype=np.int64),
        example_keys=np.array(example_keys, dtype=np.int64),
        examples=Bm25(example_docs),
        instruction_ids=[pk for pk, _ in instructions],
        instructions=Bm25(
            [tokenize(text) or EMPTY_DOCUMENT for _, text in instructions]
        ),
        tables=Bm25([doc or EMPTY_DOCUMENT for doc in table_docs]),
        notes=notes,
    )


class _IndexCache:
    """The indexes of this process, one per connection, bounded by their size."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: OrderedDict[int, KnowledgeIndex] = OrderedDict()
        self._building: dict[int, threading.Lock] = {}

    def _current(
        self, connection_id: int, token: str, table_names: tuple[str, ...]
    ) -> KnowledgeIndex | None:
        with self._lock:
            index = self._indexes.get(connection_id)
            if index is None or index.token != token:
                return None
            if index.table_names != table_names:
                return None
            self._indexes.move_to_end(connection_id)
            return index

    def get(self, connection_id: int, table_names: Sequence[str]) -> KnowledgeIndex:
        """Return the connection's index, built only if its knowledge changed."""
        token = knowledge_version_read(connection_id)
        names = tuple(table_names)
        index = self._current(connection_id, token, names)
        if index is not None:
            return index
        with self._lock:
            building = self._building.setdefault(connection_id, threading.Lock())
        # One build per change, even when many questions arrive right after it.
        with building:
            index = self._current(connection_id, token, names)
            if index is not None:
                return index
            index = index_build(
                connection_id=connection_id, token=token, table_names=names
            )
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
