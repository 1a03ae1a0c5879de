"""HTML pages: a connection's knowledge, its evaluation runs and each run's diff.

Every form of the knowledge page posts to its own route and comes back to the
page; each object is found through a selector scoped to its owner (anyone
else's is a 404).
"""

from knowledge.views.imports import examples_import
from knowledge.views.items import (
    example_check,
    example_delete,
    example_edit,
    example_verify,
    golden_question_edit,
    golden_set_delete,
    instruction_delete,
    instruction_edit,
    note_delete,
    note_edit,
    notes_prefill,
)
from knowledge.views.page import knowledge_page
from knowledge.views.runs import run_page, runs_page

__all__ = [
    "example_check",
    "example_delete",
    "example_edit",
    "example_verify",
    "examples_import",
    "golden_question_edit",
    "golden_set_delete",
    "instruction_delete",
    "instruction_edit",
    "knowledge_page",
    "note_delete",
    "note_edit",
    "notes_prefill",
    "run_page",
    "runs_page",
]
