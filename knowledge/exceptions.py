from __future__ import annotations

from sqlagent_project.errors import ApplicationError


class ExampleSqlRefused(ApplicationError):
    """An example's SQL is not one read-only statement."""

    status_code = 400
    code = "example_sql_refused"
    default_message = "The example's SQL is not a single read-only statement."


class ImportFileInvalid(ApplicationError):
    """The import file cannot be read at all (not one bad line: the whole file)."""

    status_code = 400
    code = "import_file_invalid"
    default_message = "The file could not be read as CSV or JSONL."


class TurnNotSavable(ApplicationError):
    """The turn has no successful query to save as an example."""

    status_code = 400
    code = "turn_not_savable"
    default_message = "This answer has no successful query to save as an example."


class NoteTargetTaken(ApplicationError):
    """Another description already covers that table or column."""

    status_code = 400
    code = "note_target_taken"
    default_message = "That table or column already has a description."


class KnowledgeLimitReached(ApplicationError):
    """The connection has as many examples, instructions or descriptions as allowed."""

    status_code = 400
    code = "knowledge_limit_reached"
    default_message = "This connection has as much knowledge of this kind as allowed."


class ImportTooLong(ApplicationError):
    """The import file has more lines than one import may bring."""

    status_code = 400
    code = "import_too_long"
    default_message = "The file has more lines than one import may bring."
