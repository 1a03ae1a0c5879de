"""How an engine reads SQL text: the facts the statement check needs from a backend.

Each backend declares these for its engine (`lexer_rules`, `identifier_rules`,
`read_only_functions`, `syntax_words_before_paren`, ...); the statement check
in `agent/sql_guard/` holds no engine's facts of its own. What every engine
shares (the SQL standard's functions and syntax words) is here to build from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def names(text: str) -> frozenset[str]:
    """Return the whitespace-separated words of `text` as a set."""
    return frozenset(text.split())


@dataclass(frozen=True)
class LexerRules:
    """How the server scans strings, quoted names, comments and numbers."""

    # An unsigned number literal, matched where a digit starts a token.
    number: re.Pattern[str]
    # Letters that, right before a quote, make it one literal (E'…', X'…').
    string_prefixes: frozenset[str]
    # Prefixes whose strings always take backslash escapes (PostgreSQL E'…').
    escape_prefixes: frozenset[str] = frozenset()
    # Quotes and prefixes where a backslash escapes a quote or not depending on a
    # server setting (sql_mode, standard_conforming_strings): refused if it matters.
    setting_escape_quotes: frozenset[str] = frozenset()
    setting_escape_prefixes: frozenset[str] = frozenset()
    # `#` starts a line comment.
    hash_comments: bool = False
    # `--` starts a comment only before an ASCII space, tab or newline.
    dash_comment_needs_space: bool = False
    # `/* /* */ */` nests.
    nested_comments: bool = False
    # `[name]` is a quoted name.
    bracket_names: bool = False
    # Characters that start a bound parameter outside strings (`?`, `:x`, ...).
    parameter_marks: str = ""
    # U&'…' / U&"…" with \XXXX escapes (and UESCAPE) name things.
    unicode_escapes: bool = False


@dataclass(frozen=True)
class IdentifierRules:
    """How the server resolves a name it is given."""

    # A quoted name keeps its case ("Abs" is not abs); otherwise names fold.
    quoted_keep_case: bool
    # Names longer than this many bytes are cut by the server; None: no cut.
    max_bytes: int | None
    # A 'string' right before "(" may be read as a function name.
    strings_may_name: bool
    # `t.f` calls the function f(t) when t has no column f (attribute notation).
    attribute_calls: bool = False


# Functions of the SQL standard every engine has, without side effects.
STANDARD_FUNCTIONS = names("""
    count sum avg min max
    row_number rank dense_rank percent_rank cume_dist ntile lag lead
    first_value last_value nth_value
    abs ceil ceiling floor round sign sqrt exp ln log log10 mod power pi
    radians degrees sin cos tan asin acos atan atan2
    lower upper trim ltrim rtrim substr substring replace length
    coalesce nullif cast
    current_date current_time current_timestamp
""")

# Words that come before "(" as syntax rather than as a function name (IN (…),
# OVER (…), WITHIN GROUP (…), CAST(x AS t), JOIN (…), USING (…), …). They only
# count when written unquoted; a quoted name is always a name.
STANDARD_SYNTAX_WORDS = names("""
    in exists as values from join on using over filter group select where having
    then else when case union intersect except all any some not and or by lateral
    with recursive is between like distinct interval limit offset sets cube rollup
    columns escape partition only materialized into to at zone array row nulls
    order for of natural inner outer full cross left right collate path nested
""")
