"""Run the agent's SQL read-only and bounded, in three layers that each hold alone.

1. `statement_check`: first read the text as the server's own lexer does
   (`lexer.py`: strings, quoted names and comments per dialect; refused where
   the server and sqlglot could read it differently; nesting and length
   bounded), then parse the comment-free text with sqlglot and allow exactly
   one read statement, with no write anywhere in its tree, no locking clause,
   no `SELECT … INTO` / `INTO OUTFILE`, no function off a per-dialect read-only
   allow-list (`calls.py`: decided on the name the server resolves, however
   quoted or escaped) and no MySQL executable comment or optimizer hint. The
   statement that runs is that comment-free text. With the catalog at hand,
   `attribute_calls_check` also refuses a PostgreSQL `t.f` that names no
   column of t (the server would call f(t)). Every engine fact (dialect,
   lexer rules, name rules, function allow-list, syntax words) is its
   backend's, read by `dialect_for`: an engine without them is refused.
2. `query_run` opens a transaction the database itself keeps read-only
   (PostgreSQL `BEGIN READ ONLY`, MySQL/MariaDB `START TRANSACTION READ ONLY` on
   a session whose default access mode is read-only too, SQLite opened `mode=ro`
   with an authorizer by `connections.engines`) and always rolls it back.
3. Bounds: one deadline over execution, fetch and serialisation (the server's
   timeout, a cancel from a timer thread, a check between rows), a row cap and
   byte caps per cell and per result applied while rows are fetched in small
   batches from a server-side cursor (`bounds.py`), and no session state left
   behind (the backend's `session_reset`, run by the pool on every return).
   Stop is a property of the query: inside `queries_stopped_by(stop)` (the
   ask's run), the deadline is brought forward to the moment `stop()` says yes,
   whatever tool or path ran the query.
"""

from agent.sql_guard.deadline import queries_stopped_by, stop_signal
from agent.sql_guard.dialect import Dialect, dialect_for
from agent.sql_guard.errors import QueryFailed, StatementRefused
from agent.sql_guard.execution import QueryResult, query_run
from agent.sql_guard.statement import statement_check

__all__ = [
    "Dialect",
    "QueryFailed",
    "QueryResult",
    "StatementRefused",
    "dialect_for",
    "queries_stopped_by",
    "query_run",
    "statement_check",
    "stop_signal",
]
