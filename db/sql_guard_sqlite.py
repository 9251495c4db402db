"""The SQL guard for SQLite: SQLite's token rules, a pragma allow-list and an
authorizer that SQLite itself consults while it compiles each statement.

`find_sqlite_refusal` splits the text into tokens by the rules of SQLite's
own tokenizer (tokenize.c), so comments, quotes and parameters end where
SQLite ends them. Block comments do not nest, [name] and `name` quote
identifiers, and ?NNN, :name, @name and $name are parameters. Then:

- a PRAGMA passes only if `pragma_allowed` lists it: the settings that
  db.session and SQLAlchemy issue (foreign_keys = ON, journal_mode = WAL,
  read_uncommitted) and the read-only pragmas that SQLAlchemy's inspector
  uses (table_info, index_list, foreign_key_list, ...);
- CREATE TRIGGER and DROP TRIGGER are refused, because PostgreSQL's grammar
  does not cover SQLite's forms of them;
- every other statement is rebuilt from its tokens as PostgreSQL text
  (comments dropped, identifiers in double quotes, parameters as $n) and
  checked by the PostgreSQL rules of db.sql_guard_rules. Text that
  PostgreSQL's grammar does not accept is refused; SQLAlchemy's SQLite
  statements for this product are plain SELECT, INSERT, UPDATE and DELETE,
  which it accepts.

`sqlite_authorizer` is the second line. db.session installs it on every
connection of an application engine, and SQLite calls it for every trigger
and pragma action while it compiles a statement, whatever the spelling. A
denial makes sqlite3 raise "not authorized", even on a raw DBAPI connection
that SQLAlchemy's events never see.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass

from db.sql_guard_rules import Refusal, RefusalKind, find_refusal

logger = logging.getLogger(__name__)

# Pragmas that list a schema object, whose argument names a table or index.
LISTING_PRAGMAS = frozenset(
    {
        "database_list",
        "foreign_key_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "table_info",
        "table_list",
        "table_xinfo",
    }
)
# Settings that may be read with a bare "PRAGMA name".
READABLE_PRAGMAS = frozenset(
    {"busy_timeout", "foreign_keys", "journal_mode", "read_uncommitted", "user_version"}
)
# The only values a statement may give a setting: db.session's connection
# settings, and what SQLAlchemy's pysqlite dialect sets for an isolation level.
ALLOWED_PRAGMA_VALUES = frozenset(
    {
        ("foreign_keys", "on"),
        ("foreign_keys", "1"),
        ("foreign_keys", "true"),
        ("foreign_keys", "yes"),
        ("journal_mode", "wal"),
        ("read_uncommitted", "0"),
        ("read_uncommitted", "1"),
    }
)


def pragma_allowed(name: str, argument: str | None) -> bool:
    """Tell whether PRAGMA `name` with this argument (None to read) is allowed."""
    name = name.lower()
    if name in LISTING_PRAGMAS:
        return True
    if argument is None:
        return name in READABLE_PRAGMAS
    return (name, argument.strip().lower()) in ALLOWED_PRAGMA_VALUES


_TRIGGER_ACTIONS = {
    sqlite3.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER",
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TEMP TRIGGER",
    sqlite3.SQLITE_DROP_TRIGGER: "DROP TRIGGER",
    sqlite3.SQLITE_DROP_TEMP_TRIGGER: "DROP TEMP TRIGGER",
}


def sqlite_authorizer(
    action: int,
    first: str | None,
    second: str | None,
    database: str | None,
    source: str | None,
) -> int:
    """Deny trigger changes and unlisted pragmas while SQLite compiles a statement.

    The arguments are those of sqlite3.Connection.set_authorizer: for a
    trigger action `first` is the trigger's name, for a pragma `first` is its
    name and `second` its argument.
    """
    if action in _TRIGGER_ACTIONS:
        logger.critical(
            "SQLite authorizer denied %s %s on database %s",
            _TRIGGER_ACTIONS[action],
            first,
            database,
        )
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and not pragma_allowed(first or "", second):
        logger.critical(
            "SQLite authorizer denied PRAGMA %s with argument %r", first, second
        )
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


_WORD = "word"
_QUOTED_NAME = "quoted name"
_STRING = "string"
_LITERAL = "literal"
_PARAMETER = "parameter"
_OPERATOR = "operator"
_SEMICOLON = "semicolon"

_WHITESPACE = frozenset(" \t\n\v\f\r")
_WHITESPACE_RUN = re.compile(r"[ \t\n\v\f\r]+")
# SQLite's IdChar: ASCII letters, digits, _ and $, and every non-ASCII character.
_IDENTIFIER_CHARACTERS = re.compile(r"[A-Za-z0-9_$\u0080-\U0010ffff]*")
_TWO_CHARACTER_OPERATORS = frozenset(
    {"||", "<=", ">=", "==", "!=", "<>", "<<", ">>", "->"}
)
_SINGLE_CHARACTER_OPERATORS = frozenset("+-*/%&|~<>=(),.")
_CLOSING_QUOTES = {"'": "'", '"': '"', "`": "`", "[": "]"}


class _SQLiteTokenError(ValueError):
    def __init__(self, position: int, problem: str) -> None:
        super().__init__(
            f"SQLite's tokenizer rejects it at character {position}: {problem}"
        )


_DIGITS = frozenset("0123456789")


def _is_identifier_character(character: str) -> bool:
    return _IDENTIFIER_CHARACTERS.fullmatch(character) is not None


def _identifier_end(sql: str, start: int) -> int:
    """Return where the run of identifier characters from `start` ends."""
    return _IDENTIFIER_CHARACTERS.match(sql, start).end()


def _tokenize(sql: str) -> list[_Token]:
    """Split SQL into tokens as SQLite does, dropping whitespace and comments."""
    tokens: list[_Token] = []
    position = 0
    while position < len(sql):
        end, token = _next_token(sql, position)
        if token is not None:
            tokens.append(token)
        position = end
    return tokens


def _next_token(sql: str, start: int) -> tuple[int, _Token | None]:
    """Read the token at `start` and return where it ends and the token.

    Whitespace and comments come back as None. An unterminated block comment
    runs to the end of the text, as in SQLite.
    """
    character = sql[start]
    following = sql[start + 1 : start + 2]
    if character in _WHITESPACE:
        return _WHITESPACE_RUN.match(sql, start).end(), None
    if character == "-" and following == "-":
        newline = sql.find("\n", start)
        return (len(sql) if newline < 0 else newline + 1), None
    if character == "/" and following == "*":
        close = sql.find("*/", start + 2)
        return (len(sql) if close < 0 else close + 2), None
    if character == ";":
        return start + 1, _Token(_SEMICOLON, ";")
    if character in _CLOSING_QUOTES:
        return _read_quoted(sql, start)
    if character in "xX" and following == "'":
        end, _ = _read_quoted(sql, start + 1)
        return end, _Token(_LITERAL, sql[start:end])
    if character in _DIGITS or (character == "." and following in _DIGITS):
        return _read_number(sql, start)
    if character in "?:@$":
        return _read_parameter(sql, start)
    if _is_identifier_character(character):
        end = _identifier_end(sql, start + 1)
        return end, _Token(_WORD, sql[start:end])
    if sql.startswith("->>", start):
        return start + 3, _Token(_OPERATOR, "->>")
    if character + following in _TWO_CHARACTER_OPERATORS:
        return start + 2, _Token(_OPERATOR, character + following)
    if character in _SINGLE_CHARACTER_OPERATORS:
        return start + 1, _Token(_OPERATOR, character)
    raise _SQLiteTokenError(start, f"unexpected character {character!r}")


def _read_quoted(sql: str, start: int) -> tuple[int, _Token]:
    """Read '...' (a string), "...", `...` or [...] (names); doubled quotes escape."""
    opening = sql[start]
    closing = _CLOSING_QUOTES[opening]
    position = start + 1
    while True:
        close = sql.find(closing, position)
        if close < 0:
            raise _SQLiteTokenError(start, f"unterminated {opening}...{closing}")
        if opening != "[" and sql[close + 1 : close + 2] == closing:
            position = close + 2
            continue
        break
    end = close + 1
    if opening == "'":
        return end, _Token(_STRING, sql[start:end])
    inner = sql[start + 1 : close]
    if opening != "[":
        inner = inner.replace(closing * 2, closing)
    return end, _Token(_QUOTED_NAME, inner)


def _read_number(sql: str, start: int) -> tuple[int, _Token]:
    end = start
    while end < len(sql):
        character = sql[end]
        exponent_sign = character in "+-" and sql[end - 1] in "eE"
        hexadecimal = sql[start : start + 2].lower() == "0x"
        if (
            _is_identifier_character(character)
            or character == "."
            or (exponent_sign and not hexadecimal)
        ):
            end += 1
        else:
            break
    return end, _Token(_LITERAL, sql[start:end])


def _read_parameter(sql: str, start: int) -> tuple[int, _Token]:
    end = start + 1
    if sql[start] == "?":
        while end < len(sql) and sql[end] in _DIGITS:
            end += 1
        return end, _Token(_PARAMETER, sql[start:end])
    end = _identifier_end(sql, end)
    # SQLite reads "$name::x" and "$name(x)" as one Tcl-style parameter. The
    # product never writes such parameters, so they are refused, not imitated.
    if end == start + 1 or sql[end : end + 1] in (":", "("):
        raise _SQLiteTokenError(
            start, f"unsupported parameter {sql[start : end + 1]!r}"
        )
    return end, _Token(_PARAMETER, sql[start:end])


def _split_statements(tokens: list[_Token]) -> list[list[_Token]]:
    statements: list[list[_Token]] = [[]]
    for token in tokens:
        if token.kind == _SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return [statement for statement in statements if statement]


def find_sqlite_refusal(sql: str) -> Refusal | None:
    """Return the first rule that SQLite SQL text breaks, or None."""
    try:
        statements = _split_statements(_tokenize(sql))
    except _SQLiteTokenError as error:
        return Refusal(RefusalKind.UNPARSEABLE, str(error))
    for statement in statements:
        refusal = _statement_refusal(statement)
        if refusal is not None:
            return refusal
    return None


def _statement_refusal(statement: list[_Token]) -> Refusal | None:
    words = []
    for token in statement[:3]:
        if token.kind != _WORD:
            break
        words.append(token.text.lower())
    if words[:1] == ["pragma"]:
        return _pragma_refusal(statement)
    if words[:2] == ["drop", "trigger"]:
        return Refusal(RefusalKind.TRIGGER_BYPASS, "DROP TRIGGER removes a trigger")
    if words[:2] == ["create", "trigger"] or words[:3] in (
        ["create", "temp", "trigger"],
        ["create", "temporary", "trigger"],
    ):
        return Refusal(
            RefusalKind.TRIGGER_BYPASS,
            "CREATE TRIGGER can skip or rewrite rows; triggers come from"
            " migrations only",
        )
    refusal = find_refusal(_as_postgresql_text(statement))
    if refusal is not None and refusal.kind == RefusalKind.UNPARSEABLE:
        return Refusal(
            refusal.kind,
            "the guard reads SQLite statements with PostgreSQL's grammar, and "
            + refusal.reason,
        )
    return refusal


def _as_postgresql_text(statement: list[_Token]) -> str:
    """Write the tokens as PostgreSQL reads them, one space between tokens."""
    parts = []
    parameter_count = 0
    for token in statement:
        if token.kind == _PARAMETER:
            parameter_count += 1
            parts.append(f"${parameter_count}")
        elif token.kind == _QUOTED_NAME:
            parts.append('"' + token.text.replace('"', '""') + '"')
        else:
            parts.append(token.text)
    return " ".join(parts)


def _pragma_refusal(statement: list[_Token]) -> Refusal | None:
    """Check PRAGMA [schema.]name, PRAGMA name = value and PRAGMA name(value)."""
    rest = statement[1:]
    if len(rest) >= 2 and rest[1].text == ".":
        rest = rest[2:]
    if not rest or rest[0].kind not in (_WORD, _QUOTED_NAME):
        return Refusal(RefusalKind.SQLITE_PRAGMA, "a PRAGMA without a name")
    name = rest[0].text
    argument_tokens = rest[1:]
    if argument_tokens[:1] and argument_tokens[0].text == "=":
        argument_tokens = argument_tokens[1:]
    elif argument_tokens[:1] and argument_tokens[0].text == "(":
        if argument_tokens[-1].text != ")":
            return Refusal(RefusalKind.SQLITE_PRAGMA, f"PRAGMA {name}( is not closed")
        argument_tokens = argument_tokens[1:-1]
    elif argument_tokens:
        return Refusal(RefusalKind.SQLITE_PRAGMA, f"PRAGMA {name} is malformed")

    argument = _pragma_argument(argument_tokens) if argument_tokens else None
    if pragma_allowed(name, argument):
        return None
    setting_text = name if argument is None else f"{name} = {argument}"
    return Refusal(
        RefusalKind.SQLITE_PRAGMA,
        f"PRAGMA {setting_text} is not in the allow-list of SQLite pragmas"
        " (foreign_keys = ON, journal_mode = WAL, read_uncommitted and schema"
        " listings)",
    )


def _pragma_argument(tokens: list[_Token]) -> str:
    """Return a pragma's argument as SQLite reads it: unquoted, signs joined."""
    text = "".join(token.text for token in tokens)
    if len(tokens) == 1 and tokens[0].kind == _STRING:
        return tokens[0].text[1:-1].replace("''", "'")
    return text
