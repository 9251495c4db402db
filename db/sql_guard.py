"""The SQL guard: every statement an application engine runs is checked first.

db.session.make_engine installs `check_statement` on SQLAlchemy's
before_cursor_execute event, so a statement that would switch off a
safeguard raises DangerousSQLRefused before the driver sends it. The rules
(db.sql_guard_rules) refuse role switches, changes of row_security and
session_replication_role, a tenant set for the whole session, row-level
security switched off, policy and trigger changes, TRUNCATE and privilege
escalation, also inside DO blocks, function bodies and EXECUTE literals.

Parsing, never pattern matching, decides:

- PostgreSQL: pglast's parse_sql_json and parse_plpgsql, which run
  libpg_query, the server's own parser. Text it cannot parse is refused (fail closed).
  psycopg's placeholders (%s, %(name)s, %%) are rewritten as psycopg
  rewrites them (to $n and %) before parsing, so the guard reads what the
  server will read.
- SQLite: SQLite's own token rules, a pragma allow-list, and the PostgreSQL
  rules on the rebuilt statement, plus an authorizer inside SQLite itself
  (db.sql_guard_sqlite explains the choice).

The application repeats the same compiled statements, so verdicts are
cached per statement text (functools.lru_cache, STATEMENT_CACHE_SIZE texts).
Measured with tests/benchmark_sql_guard.py on the 2-core AMD EPYC
development machine while other work ran on it: a cached check costs about
0.2 microseconds. A first check of a service statement costs 30 to 200
microseconds on PostgreSQL and 45 to 400 on SQLite, whose tokenizer is
written in Python. A first check of a 1000-row INSERT costs 25 to 45
milliseconds.

A refusal is logged at CRITICAL here. The guard cannot know the acting
user, so the caller that does records the audit event: core.context's
unit_of_work(actor) writes `security.dangerous_sql` with severity CRITICAL.

NOTE: only statements that pass through SQLAlchemy's execution events are
checked. A raw DBAPI connection (engine.raw_connection()) and the pragmas
that db.session runs when it opens a SQLite connection are not. On SQLite
the authorizer still covers raw connections; on PostgreSQL nothing does.
The psycopg rewrite assumes psycopg's default server-side binding, where
parameter values never become SQL text.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import unicodedata

from db.sql_guard_rules import Refusal, RefusalKind, find_refusal
from db.sql_guard_sqlite import find_sqlite_refusal

logger = logging.getLogger(__name__)

GUARDED_DIALECTS = frozenset({"postgresql", "sqlite"})
STATEMENT_CACHE_SIZE = 4096
MAX_EXCERPT_CHARACTERS = 200

__all__ = [
    "GUARDED_DIALECTS",
    "DangerousSQLRefused",
    "RefusalKind",
    "check_statement",
    "shorten_statement",
]


class DangerousSQLRefused(Exception):
    """A statement would switch off a safeguard, so it was not sent.

    It is no SolvereignError on purpose: pages show those messages to users,
    and this one quotes SQL, which users are not shown.

    `kind` names the safeguard and `reason` the rule. The statement itself is
    kept only shortened, with control characters masked
    (`statement_excerpt`), and as the SHA-256 of its full text
    (`statement_sha256`), which ties a log line to an audit entry.
    """

    def __init__(self, kind: RefusalKind, reason: str, statement: str) -> None:
        self.kind = kind
        # A parser's message may quote the statement, control characters and all.
        self.reason = _mask_control_characters(reason)
        self.statement_excerpt = shorten_statement(statement)
        self.statement_sha256 = hashlib.sha256(
            statement.encode("utf-8", "surrogatepass")
        ).hexdigest()
        super().__init__(
            f"SQL statement refused as {kind}: {self.reason}."
            f" Statement: {self.statement_excerpt}"
        )


def check_statement(sql: str, dialect: str, *, pyformat: bool = False) -> None:
    """Raise DangerousSQLRefused if the SQL text would switch off a safeguard.

    `dialect` is SQLAlchemy's dialect name, "postgresql" or "sqlite"; any
    other name is refused. With `pyformat`, the text carries psycopg's
    placeholders, which are rewritten as psycopg does before parsing.
    """
    refusal = _cached_refusal(sql, dialect, pyformat)
    if refusal is None:
        return
    error = DangerousSQLRefused(refusal.kind, refusal.reason, sql)
    logger.critical(
        "dangerous SQL refused as %s on %s: %s; statement sha256 %s: %s",
        refusal.kind,
        dialect,
        refusal.reason,
        error.statement_sha256,
        error.statement_excerpt,
    )
    raise error


@functools.lru_cache(maxsize=STATEMENT_CACHE_SIZE)
def _cached_refusal(sql: str, dialect: str, pyformat: bool) -> Refusal | None:
    if "\x00" in sql:
        # libpg_query and libpq read C strings, which end at the first NUL, so
        # the parser and the driver could see less text than was written.
        return Refusal(RefusalKind.UNPARSEABLE, "the text contains a NUL character")
    if dialect == "sqlite":
        return find_sqlite_refusal(sql)
    if dialect != "postgresql":
        return Refusal(
            RefusalKind.UNPARSEABLE,
            f"the guard has no rules for the {dialect} dialect; use PostgreSQL"
            " or SQLite",
        )
    server_sql = _rewrite_psycopg_placeholders(sql) if pyformat else sql
    if server_sql is None:
        return Refusal(
            RefusalKind.UNPARSEABLE,
            "psycopg rejects its placeholders; write %% for a literal % and"
            " %s or %(name)s for a parameter",
        )
    return find_refusal(server_sql)


# The placeholder pattern of psycopg 3.3 (psycopg/_queries.py), unchanged:
# "%" followed by "(name)" and one character, or by any one character.
_PSYCOPG_PLACEHOLDER = re.compile(r"%(?:(?:\(([^)]+)\).)|(?:.))")


def _rewrite_psycopg_placeholders(sql: str) -> str | None:
    """Rewrite %s and %(name)s as $n and %% as %, as psycopg does before sending.

    Returns None where psycopg raises instead of sending: a lone "%", a
    format other than s, b or t, or named and positional placeholders mixed.
    """
    parts = []
    position = 0
    numbers_by_name: dict[str, int] = {}
    positional_count = 0
    for match in _PSYCOPG_PLACEHOLDER.finditer(sql):
        parts.append(sql[position : match.start()])
        position = match.end()
        placeholder = match.group(0)
        if placeholder == "%%":
            parts.append("%")
            continue
        if placeholder == "%(" or placeholder[-1] not in "sbt":
            return None
        name = match.group(1)
        if name is None:
            positional_count += 1
            number = positional_count
        else:
            number = numbers_by_name.setdefault(name, len(numbers_by_name) + 1)
        if positional_count and numbers_by_name:
            return None
        parts.append(f"${number}")
    parts.append(sql[position:])
    return "".join(parts)


def shorten_statement(sql: str) -> str:
    """Shorten SQL for a message or an audit entry.

    Runs of whitespace become one space, control and format characters (NUL,
    escape, bidirectional overrides) are masked, and text past
    MAX_EXCERPT_CHARACTERS is cut off with the full length noted.
    """
    flat = " ".join(sql.split())
    excerpt = _mask_control_characters(flat[:MAX_EXCERPT_CHARACTERS])
    if len(flat) > MAX_EXCERPT_CHARACTERS:
        excerpt += f"... ({len(sql)} characters in all)"
    return excerpt


def _mask_control_characters(text: str) -> str:
    """Replace control, format and unassigned characters with U+FFFD."""
    return "".join(
        "\N{REPLACEMENT CHARACTER}"
        if unicodedata.category(character).startswith("C")
        else character
        for character in text
    )
