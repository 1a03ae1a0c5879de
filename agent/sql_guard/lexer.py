"""Read SQL text the way the server's own lexer does, before sqlglot reads it.

sqlglot's tokenizer is not the server's: it starts a MySQL `--` comment before
any character Python calls a space (MariaDB only before an ASCII one, and reads
the rest of the line as SQL), and it knows nothing of sql_mode or
standard_conforming_strings. So the text is scanned here first, per dialect,
exactly as the server scans strings, quoted names and comments (the rules are
the backend's `lexer_rules`); whatever two
readings could disagree on is refused:

- a character outside string literals and quoted names that is not printable
  ASCII, a tab, a newline or a letter/digit/mark (U+00A0, U+2028, U+200B, ...);
- a MySQL/MariaDB `--` not followed by an ASCII space, tab or newline; a
  comment MySQL or MariaDB runs as SQL (`/*!`, `/*M!`) or reads as optimizer
  hints (`/*+`); a comment opened inside a comment where the dialect does not
  nest them; an unterminated comment;
- a string whose end depends on a server setting (MySQL NO_BACKSLASH_ESCAPES
  and ANSI_QUOTES, PostgreSQL standard_conforming_strings), a PostgreSQL
  dollar-quoted string or parameter, a SQLite parameter;
- a number run into a name (`1abc`), a NUL character, a backslash outside
  strings.

Every comment is then replaced by a space: the statement that runs is this
comment-free text, so no comment can hide SQL from the check or reveal SQL to
the server. Nesting depth is measured here too, before sqlglot's recursive
parser sees the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from agent.sql_guard.errors import StatementRefused
from connections.backends.sql import LexerRules

# More levels of parentheses, CASE and prefix operators than this are refused
# before parsing: sqlglot's parser recurses per level (about 25 frames for a
# parenthesis) and must keep headroom under Python's recursion limit wherever
# the check runs, and for the lineage and evaluation code that parse it again.
MAX_NESTING = 20

_CODE_WHITESPACE = frozenset(" \t\n\r")
_PREFIX_OPERATORS = frozenset("-+~!")
# Block comments the server may run (MySQL `/*!`, MariaDB `/*M!`) or read as
# optimizer hints (`/*+`, which can lift the timeout). Refused in any dialect.
_EXECUTABLE_COMMENT = re.compile(r"/\*\s*(?:[mM]?!|\+)")
# Prefixes (the backend's `string_prefixes`) make a quote part of one literal:
# E'…' (escapes), B'…' / X'…' (bits, hex), N'…' (national), U&'…' / U&"…".
_DIGITS_ONLY = {"b": re.compile(r"[01]*\Z"), "x": re.compile(r"[0-9a-fA-F]*\Z")}


@dataclass(frozen=True)
class Literal:
    """A string or quoted name: where it starts (its prefix, its quote), ends."""

    start: int
    quote_start: int
    end: int  # inclusive: the closing quote


@dataclass(frozen=True)
class Lexed:
    """The statement as the server reads it, comments replaced by spaces."""

    text: str
    literals: tuple[Literal, ...]
    # `text` with every literal's content blanked: for checks on code only.
    code: str
    nesting: int


def _refuse(reason: str) -> StatementRefused:
    return StatementRefused(
        f"{reason} The server could read this differently from the check, so it "
        "is refused; write plain SQL with ASCII spaces and simple comments."
    )


def _char_name(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _word_char(char: str) -> bool:
    if char.isascii():
        return char.isalnum() or char in "_$"
    # Not a non-ASCII digit: sqlglot would read it as a number, the servers
    # as part of a name.
    return unicodedata.category(char)[0] in "LM"


class _Scanner:
    """One pass over the text; the dialect's rules for strings and comments."""

    def __init__(self, sql: str, rules: LexerRules) -> None:
        self.sql = sql
        self.rules = rules
        self.out: list[str] = []
        self.length = 0  # of the text emitted so far: literals are placed in it
        self.literals: list[Literal] = []
        self.stack: list[str] = []
        self.run = 0  # consecutive prefix operators (NOT, -, +, ~, !)
        self.nesting = 0

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.length += len(text)

    # --- nesting -----------------------------------------------------------

    def _deeper(self, kind: str) -> None:
        self.stack.append(kind)
        self._measure(len(self.stack) + self.run)
        self.run = 0

    def _measure(self, level: int) -> None:
        self.nesting = max(self.nesting, level)
        if level > MAX_NESTING:
            raise StatementRefused(
                f"The query is nested more than {MAX_NESTING} levels deep "
                "(parentheses, function calls, subqueries, CASE or repeated NOT "
                "and signs). Write it flatter, for example with a CTE."
            )

    def _token(self, word: str = "") -> None:
        """Note one code token for the nesting measure."""
        lower = word.lower()
        if lower == "not" or (len(word) == 1 and word in _PREFIX_OPERATORS):
            self.run += 1
            self._measure(len(self.stack) + self.run)
            return
        if lower == "case":
            self._deeper("case")
            return
        if lower == "end" and self.stack and self.stack[-1] == "case":
            self.stack.pop()
        self.run = 0

    # --- the scan ----------------------------------------------------------

    def scan(self) -> Lexed:
        sql, i = self.sql, 0
        while i < len(sql):
            i = self._step(i)
        text = "".join(self.out)
        code = list(text)
        for literal in self.literals:
            for k in range(literal.quote_start + 1, literal.end):
                code[k] = " "
        return Lexed(text, tuple(self.literals), "".join(code), self.nesting)

    def _step(self, i: int) -> int:
        sql, char = self.sql, self.sql[i]
        nxt = sql[i + 1 : i + 2]
        if char in _CODE_WHITESPACE:
            self._emit(char)
            return i + 1
        if char == "-" and nxt == "-":
            return self._line_comment(i)
        if char == "#" and self.rules.hash_comments:
            return self._line_comment(i)
        if char == "/" and nxt == "*":
            return self._block_comment(i)
        if char in "'\"`" or (char == "[" and self.rules.bracket_names):
            self._token()
            return self._literal(i, i)
        if _word_char(char):
            return self._word(i)
        if not char.isascii():
            raise _refuse(
                f"The query contains {_char_name(char)} outside a string or quoted "
                "name."
            )
        if not char.isprintable():
            raise _refuse(
                f"The query contains the control character {_char_name(char)}."
            )
        if char == "\\":
            raise _refuse("The query contains a backslash outside a string.")
        if char in self.rules.parameter_marks:
            raise _refuse(f"The query contains a parameter ({char}…).")
        if char in "([":
            self._deeper(char)
        elif char in ")]":
            while self.stack and self.stack[-1] == "case":
                self.stack.pop()  # an unclosed CASE: the parser will say so
            if self.stack:
                self.stack.pop()
            self.run = 0
        elif char == "!" and nxt == "=":
            self._token("!=")  # an operator, not a prefix
            self._emit("!=")
            return i + 2
        else:
            self._token(char)
        self._emit(char)
        return i + 1

    def _word(self, i: int) -> int:
        sql = self.sql
        if sql[i] == "$":
            raise _refuse(
                "The query contains a dollar-quoted string or a parameter ($…)."
            )
        if sql[i] in "0123456789":
            match = self.rules.number.match(sql, i)
            end = match.end() if match else i
            if end == i or (end < len(sql) and _word_char(sql[end])):
                stop = end
                while stop < len(sql) and _word_char(sql[stop]):
                    stop += 1
                raise _refuse(
                    f"The query contains {sql[i:stop]!r}, a number run into a name."
                )
            self._token(sql[i:end])
            self._emit(sql[i:end])
            return end
        end = i
        while end < len(sql) and _word_char(sql[end]):
            end += 1
        word = sql[i:end]
        after = sql[end : end + 1]
        lower = word.lower()
        if after == "'" and lower in self.rules.string_prefixes:
            self._token()
            return self._literal(i, end, prefix=lower)
        if (
            self.rules.unicode_escapes
            and lower == "u"
            and sql[end : end + 1] == "&"
            and sql[end + 1 : end + 2] in ("'", '"')
        ):
            self._token()
            return self._literal(i, end + 1, prefix="u&")
        self._token(word)
        self._emit(word)
        return end

    # --- comments ----------------------------------------------------------

    def _line_comment(self, i: int) -> int:
        sql = self.sql
        if self.rules.dash_comment_needs_space and sql[i] == "-":
            follow = sql[i + 2 : i + 3]
            if follow and follow not in _CODE_WHITESPACE:
                raise _refuse(
                    f"'--' is followed by {_char_name(follow)}: this database "
                    "starts a comment only at '--' and an ASCII space, and reads "
                    "anything else as SQL."
                )
        end = i + 2 if sql[i] == "-" else i + 1
        while end < len(sql) and sql[end] != "\n":
            char = sql[end]
            if char == "\r" and sql[end + 1 : end + 2] != "\n":
                # PostgreSQL ends a line comment at CR; MySQL and SQLite do not.
                raise _refuse("A comment contains a carriage return alone.")
            if char != "\r":
                self._comment_char(char)
            end += 1
        self._emit(" ")
        # The CR of a CRLF stays in the comment: PostgreSQL ends the comment at
        # it, the others at the LF; either way the next line is code.
        return end

    def _block_comment(self, i: int) -> int:
        sql = self.sql
        if _EXECUTABLE_COMMENT.match(sql, i):
            raise StatementRefused(
                "MySQL executable comments (/*! … */) and optimizer hints (/*+ … */) "
                "are not allowed. Write the query without them."
            )
        depth, end = 1, i + 2
        while depth:
            if end >= len(sql):
                raise _refuse("A /* comment is not closed.")
            pair = sql[end : end + 2]
            if pair == "*/":
                depth -= 1
                end += 2
            elif pair == "/*":
                if not self.rules.nested_comments:
                    raise _refuse(
                        "A comment opens inside a comment; this database does not "
                        "nest them."
                    )
                depth += 1
                end += 2
            else:
                self._comment_char(sql[end])
                end += 1
        self._emit(" ")
        return end

    def _comment_char(self, char: str) -> None:
        if char in "\t\n\r" or (char.isascii() and char.isprintable()):
            return
        if char.isascii() or unicodedata.category(char)[0] in "CZ":
            raise _refuse(f"A comment contains {_char_name(char)}.")

    # --- strings and quoted names -----------------------------------------

    def _literal(self, start: int, quote_at: int, prefix: str = "") -> int:
        sql = self.sql
        quote = sql[quote_at]
        if quote == "[":
            close = sql.find("]", quote_at + 1)
            if close < 0:
                raise _refuse("A [quoted name] is not closed.")
            ends = {close}
        elif prefix in self.rules.escape_prefixes:
            ends = {self._end(quote_at, escapes=True)}
        else:
            ends = {self._end(quote_at, escapes=False)}
            if self._backslash_may_escape(quote, prefix):
                ends.add(self._end(quote_at, escapes=True))
        if len(ends) > 1:
            raise _refuse(
                "A string contains a backslash before a quote: whether it ends there "
                "depends on a server setting. Write a quote inside a string as ''."
            )
        end = ends.pop()
        if end < 0:
            raise _refuse(f"A {quote} quote is not closed.")
        if prefix in _DIGITS_ONLY and not _DIGITS_ONLY[prefix].match(
            sql[quote_at + 1 : end]
        ):
            raise _refuse(f"A {prefix.upper()}'…' literal holds other characters.")
        at = self.length
        self.literals.append(
            Literal(at, at + quote_at - start, at + end - start),
        )
        self._emit(sql[start : end + 1])
        return end + 1

    def _backslash_may_escape(self, quote: str, prefix: str) -> bool:
        """Tell whether a backslash may escape the closing quote on this server,
        depending on a setting: then both readings must agree."""
        return (
            quote in self.rules.setting_escape_quotes
            and prefix in self.rules.setting_escape_prefixes
        )

    def _end(self, quote_at: int, *, escapes: bool) -> int:
        """Return where the literal opened at `quote_at` closes, or -1."""
        sql, quote = self.sql, self.sql[quote_at]
        k = quote_at + 1
        while k < len(sql):
            char = sql[k]
            if escapes and char == "\\":
                k += 2
                continue
            if char == quote:
                if sql[k + 1 : k + 2] == quote:
                    k += 2
                    continue
                return k
            k += 1
        return -1


def lex(sql: str, *, rules: LexerRules) -> Lexed:
    """Scan `sql` as the server does, or raise StatementRefused where unsure."""
    if "\x00" in sql:
        # Anywhere, strings included: no server takes it inside a statement.
        raise _refuse("The query contains a NUL character.")
    return _Scanner(sql, rules).scan()
