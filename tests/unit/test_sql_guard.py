"""The SQL guard's rules: dangerous statements refused, ordinary ones allowed."""

from __future__ import annotations

import inspect
import logging
import sqlite3

import pytest
from pglast import ast

from core.errors import SolvereignError
from db.session import make_engine
from db.sql_guard import (
    MAX_EXCERPT_CHARACTERS,
    DangerousSQLRefused,
    RefusalKind,
    _cached_refusal,
    check_statement,
    shorten_statement,
)
from db.sql_guard_rules import _NODE_RULES, _UNWRAPPED_NODE_FIELDS
from db.sql_guard_sqlite import pragma_allowed, sqlite_authorizer

ROLE = RefusalKind.ROLE_SWITCH
ROW_SECURITY = RefusalKind.ROW_SECURITY_SETTING
RLS_OFF = RefusalKind.ROW_LEVEL_SECURITY_OFF
POLICY = RefusalKind.POLICY_CHANGE
TRIGGER = RefusalKind.TRIGGER_BYPASS
TRUNCATE = RefusalKind.TRUNCATE
TENANT = RefusalKind.SESSION_TENANT
PRIVILEGE = RefusalKind.PRIVILEGE_ESCALATION
HIDDEN = RefusalKind.UNINSPECTABLE_CODE
UNPARSEABLE = RefusalKind.UNPARSEABLE
PRAGMA = RefusalKind.SQLITE_PRAGMA

# Statements refused on PostgreSQL, each with the kind of safeguard it attacks.
DANGEROUS_POSTGRESQL = [
    # Role switches, plain and disguised.
    ("SET ROLE admin", ROLE),
    ("SeT   rOlE admin", ROLE),
    ('SET ROLE "admin"', ROLE),
    ("SET LOCAL ROLE admin", ROLE),
    ("SET SESSION ROLE admin", ROLE),
    ("RESET ROLE", ROLE),
    ("SET ROLE NONE", ROLE),
    ("SET SESSION AUTHORIZATION postgres", ROLE),
    ("SET SESSION AUTHORIZATION DEFAULT", ROLE),
    ("/* maintenance */ SET /* really */ ROLE -- now\n admin", ROLE),
    ("select set_config('role', 'admin', true)", ROLE),
    ("GRANT postgres TO solvereign_app", PRIVILEGE),
    # row_security and the trigger switch.
    ("SET row_security = off", ROW_SECURITY),
    ("SET LOCAL row_security TO off", ROW_SECURITY),
    ("select set_config('row_security','off',false)", ROW_SECURITY),
    ("SELECT * FROM pg_catalog.set_config('ROW_SECURITY', 'off', false)", ROW_SECURITY),
    ("ALTER ROLE solvereign_app SET row_security = off", ROW_SECURITY),
    ("ALTER DATABASE solvereign SET session_replication_role = replica", TRIGGER),
    ("ALTER SYSTEM SET row_security = off", ROW_SECURITY),
    ("ALTER FUNCTION f() SET row_security = off", ROW_SECURITY),
    (
        "UPDATE pg_settings SET setting = 'off' WHERE name = 'row_security'",
        RefusalKind.SETTINGS_TABLE_WRITE,
    ),
    ("SET session_replication_role = replica", TRIGGER),
    ("SET LOCAL session_replication_role = 'replica'", TRIGGER),
    ("SELECT set_config('session_replication_role', 'replica', true)", TRIGGER),
    # Triggers and TRUNCATE.
    ("ALTER TABLE audit_log DISABLE TRIGGER ALL", TRIGGER),
    ("alter table AUDIT_LOG disable trigger audit_log_reject_update_delete", TRIGGER),
    ('ALTER TABLE "audit_log" DISABLE TRIGGER USER', TRIGGER),
    ("ALTER TABLE ONLY public.audit_log ENABLE REPLICA TRIGGER x", TRIGGER),
    ("DROP TRIGGER audit_log_reject_truncate ON audit_log", TRIGGER),
    (
        (
            "CREATE TRIGGER skip BEFORE INSERT ON audit_log"
            " FOR EACH ROW EXECUTE FUNCTION f()"
        ),
        TRIGGER,
    ),
    ("CREATE RULE skip AS ON INSERT TO audit_log DO INSTEAD NOTHING", TRIGGER),
    ("TRUNCATE audit_log", TRUNCATE),
    ("truncate table ONLY audit_log, assignments CASCADE", TRUNCATE),
    ("TrUnCaTe/**/audit_log", TRUNCATE),
    ("DROP FUNCTION reject_audit_log_change() CASCADE", RefusalKind.CASCADING_DROP),
    # Row-level security and policies.
    ("ALTER TABLE plans DISABLE ROW LEVEL SECURITY", RLS_OFF),
    ("ALTER TABLE plans NO FORCE ROW LEVEL SECURITY", RLS_OFF),
    ("ALTER TABLE plans OWNER TO solvereign_app", RLS_OFF),
    ("DROP POLICY tenant_isolation ON plans", POLICY),
    ("ALTER POLICY tenant_isolation ON plans USING (true)", POLICY),
    ("CREATE POLICY everything ON plans USING (true)", POLICY),
    ("ALTER ROLE solvereign_app BYPASSRLS", PRIVILEGE),
    ("CREATE ROLE intruder SUPERUSER", PRIVILEGE),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'",
        PRIVILEGE,
    ),
    ("ALTER FUNCTION f() LEAKPROOF", PRIVILEGE),
    # The tenant for the whole session.
    ("SET app.tenant_id = '7'", TENANT),
    ("SET SESSION app.tenant_id TO 7", TENANT),
    ('SET "App"."Tenant_Id" = 7', TENANT),
    ("RESET app.tenant_id", TENANT),
    ("SELECT set_config('app.tenant_id', '7', false)", TENANT),
    ("SELECT set_config('app.tenant_id', '7', 'off')", TENANT),
    ("SELECT set_config('app.tenant_id', $1, $2)", TENANT),
    (
        (
            "SELECT set_config(setting_name => 'app.tenant_id', new_value => '7',"
            " is_local => false)"
        ),
        TENANT,
    ),
    # DO blocks, function bodies and dynamic SQL.
    (
        "DO $$ BEGIN EXECUTE 'ALTER TABLE audit_log DISABLE TRIGGER ALL'; END $$",
        TRIGGER,
    ),
    ("do $body$ begin execute 'TRUNCATE ' || 'audit_log'; end $body$", HIDDEN),
    ("DO $$ BEGIN EXECUTE format('TRUNCATE %I', 'audit_log'); END $$", HIDDEN),
    ("DO $$ BEGIN SET LOCAL ROLE admin; END $$", ROLE),
    (
        "DO $$ BEGIN PERFORM set_config('row_security', 'off', false); END $$",
        ROW_SECURITY,
    ),
    (
        "DO $$ DECLARE x text; BEGIN x := set_config('role', 'admin', false); END $$",
        ROLE,
    ),
    (
        (
            "DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'TRUNCATE audit_log'"
            " LOOP END LOOP; END $$"
        ),
        TRUNCATE,
    ),
    (
        (
            "DO $$ BEGIN EXECUTE"
            " 'DO $inner$ BEGIN EXECUTE ''RESET ROLE''; END $inner$'; END $$"
        ),
        ROLE,
    ),
    ("DO LANGUAGE plpython3u $$ plpy.execute('TRUNCATE audit_log') $$", HIDDEN),
    (
        (
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$"
            " BEGIN EXECUTE 'SET ROLE admin'; END $$"
        ),
        ROLE,
    ),
    (
        (
            "CREATE FUNCTION f() RETURNS text LANGUAGE sql"
            " AS $$ SELECT set_config('role', 'admin', false) $$"
        ),
        ROLE,
    ),
    ("SELECT * FROM query_to_xml('TRUNCATE audit_log', true, true, '')", TRUNCATE),
    ("SELECT dblink_exec('dbname=test', 'TRUNCATE audit_log')", HIDDEN),
    ("SELECT set_config(name, 'off', false) FROM pg_settings", HIDDEN),
    # Several statements in one string, the dangerous one last.
    ("SELECT 1; TRUNCATE audit_log", TRUNCATE),
    ("SELECT id FROM plans WHERE tenant_id = 7;\nSET ROLE admin;", ROLE),
    ("WITH x AS (SELECT set_config('role', 'admin', false)) SELECT * FROM x", ROLE),
    ("PREPARE later AS SELECT set_config('row_security', 'off', false)", ROW_SECURITY),
    # Text that does not parse is refused, not let through.
    ("SELECT 1 /* unterminated", UNPARSEABLE),
    ("TRUNCATE audit_log\x00", UNPARSEABLE),
    ("SELEKT * FROM audit_log", UNPARSEABLE),
]

# Statements of the kinds the services run, with $n placeholders.
ALLOWED_POSTGRESQL = [
    "SELECT 1",
    (
        "SELECT plans.id, plan_versions.status FROM plans"
        " JOIN plan_versions ON plan_versions.plan_id = plans.id"
        " LEFT OUTER JOIN assignments ON assignments.plan_version_id = plan_versions.id"
        " WHERE plans.tenant_id = $1 ORDER BY plan_versions.version_number DESC"
    ),
    (
        "INSERT INTO audit_log (tenant_id, sequence, details) VALUES ($1, $2, $3)"
        " RETURNING audit_log.id"
    ),
    (
        "UPDATE plan_versions SET status = $1, row_version = $2"
        " WHERE plan_versions.id = $3 AND plan_versions.row_version = $4"
    ),
    "DELETE FROM user_sessions WHERE user_sessions.expires_at < $1",
    (
        "SELECT solve_jobs.id FROM solve_jobs WHERE solve_jobs.status = $1"
        " ORDER BY solve_jobs.id LIMIT $2 FOR UPDATE SKIP LOCKED"
    ),
    "SELECT tenants.id FROM tenants WHERE tenants.id = $1 FOR NO KEY UPDATE",
    "SET LOCAL lock_timeout = '5s'",
    "SELECT set_config('app.tenant_id', '7', true)",
    "SELECT set_config('app.tenant_id', $1, true)",
    "SELECT pg_catalog.set_config('app.tenant_id', $1, 'on'::boolean)",
    "SET LOCAL app.tenant_id = '7'",
    "SELECT current_setting('app.tenant_id', true)",
    "SELECT set_config('application_name', 'worker', false)",
    "SHOW row_security",
    "BEGIN; SELECT 1; COMMIT",
    "SAVEPOINT sa_savepoint_1",
    "ALTER TABLE plans ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE plans FORCE ROW LEVEL SECURITY",
    "ALTER ROLE solvereign_app NOBYPASSRLS",
    "DO $$ BEGIN PERFORM 1; END $$",
    "DO $$ BEGIN EXECUTE 'SELECT count(*) FROM plans'; END $$",
    "SELECT 'SET ROLE admin', 'TRUNCATE audit_log'",
    "-- TRUNCATE audit_log\nSELECT 1",
    "",
]

DANGEROUS_SQLITE = [
    ("DROP TRIGGER audit_log_reject_update", TRIGGER),
    ("drop trigger if exists [audit_log_reject_delete]", TRIGGER),
    ("DROP /* quietly */ TRIGGER `audit_log_reject_update`", TRIGGER),
    # SQLite's block comments do not nest, so this is DROP TRIGGER to SQLite.
    ("/* /* */ DROP TRIGGER audit_log_reject_update -- */", TRIGGER),
    (
        (
            "CREATE TEMP TRIGGER skip BEFORE INSERT ON audit_log"
            " BEGIN SELECT RAISE(IGNORE); END"
        ),
        TRIGGER,
    ),
    ("SELECT 1; DROP TRIGGER audit_log_reject_update", TRIGGER),
    ("PRAGMA foreign_keys = OFF", PRAGMA),
    ("pragma FOREIGN_KEYS=0", PRAGMA),
    ('PRAGMA "foreign_keys" = "off"', PRAGMA),
    ("PRAGMA main.foreign_keys(false)", PRAGMA),
    ("PRAGMA writable_schema = 1", PRAGMA),
    ("PRAGMA recursive_triggers = ON", PRAGMA),
    ("PRAGMA journal_mode = OFF", PRAGMA),
    ("TRUNCATE audit_log", TRUNCATE),
    ("ATTACH DATABASE 'other.db' AS other", UNPARSEABLE),
    ("SELECT a::int FROM t", UNPARSEABLE),
    ("SELECT 'unterminated", UNPARSEABLE),
]

# Statements of the kinds SQLAlchemy writes for SQLite, and its pragmas.
ALLOWED_SQLITE = [
    "PRAGMA foreign_keys = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys",
    "PRAGMA journal_mode",
    "PRAGMA read_uncommitted",
    'PRAGMA main.table_info("audit_log")',
    'PRAGMA main.index_list("audit_log")',
    'PRAGMA main.foreign_key_list("plans")',
    (
        "SELECT plans.id, plan_versions.status FROM plans"
        " JOIN plan_versions ON plan_versions.plan_id = plans.id"
        " WHERE plans.tenant_id = ? LIMIT ? OFFSET ?"
    ),
    (
        "INSERT INTO audit_log (tenant_id, sequence, details) VALUES (?, ?, ?)"
        " RETURNING id"
    ),
    "UPDATE tenants SET name=tenants.name WHERE tenants.id = ?",
    "SELECT name FROM sqlite_master WHERE type = 'trigger'",
    'SELECT `a`, [b], "c" FROM t WHERE x = :x AND y = @y AND z = $z AND w = ?2',
    "SELECT x'ABCD', 1e+5, .5, 0x1F, 'it''s'",
    "SELECT json_extract(details, '$.tours') FROM audit_log",
    "SELECT 'DROP TRIGGER x' -- DROP TRIGGER x",
]


def refusal_of(sql: str, dialect: str) -> DangerousSQLRefused:
    with pytest.raises(DangerousSQLRefused) as caught:
        check_statement(sql, dialect)
    return caught.value


class TestPostgreSQL:
    @pytest.mark.parametrize(("sql", "kind"), DANGEROUS_POSTGRESQL)
    def test_dangerous_statement_is_refused(self, sql, kind):
        error = refusal_of(sql, "postgresql")

        assert error.kind == kind

    @pytest.mark.parametrize("sql", ALLOWED_POSTGRESQL)
    def test_ordinary_statement_is_allowed(self, sql):
        check_statement(sql, "postgresql")

    def test_psycopg_placeholders_are_read_as_psycopg_sends_them(self):
        sql = (
            "SELECT plans.id FROM plans WHERE plans.tenant_id = %(tenant_id_1)s"
            " AND plans.name LIKE '100%%' AND plans.id = %(tenant_id_1)s"
        )

        check_statement(sql, "postgresql", pyformat=True)

    def test_dangerous_statement_with_placeholders_is_refused(self):
        error = refusal_of_pyformat("SELECT set_config('role', %s, false)")

        assert error.kind == ROLE

    @pytest.mark.parametrize(
        "sql", ["SELECT 100 % 7 WHERE x = %s", "SELECT %(name)x", "SELECT %s, %(a)s"]
    )
    def test_placeholders_psycopg_rejects_are_refused(self, sql):
        error = refusal_of_pyformat(sql)

        assert error.kind == UNPARSEABLE
        assert "placeholders" in error.reason


def refusal_of_pyformat(sql: str) -> DangerousSQLRefused:
    with pytest.raises(DangerousSQLRefused) as caught:
        check_statement(sql, "postgresql", pyformat=True)
    return caught.value


class TestSQLite:
    @pytest.mark.parametrize(("sql", "kind"), DANGEROUS_SQLITE)
    def test_dangerous_statement_is_refused(self, sql, kind):
        error = refusal_of(sql, "sqlite")

        assert error.kind == kind

    @pytest.mark.parametrize("sql", ALLOWED_SQLITE)
    def test_ordinary_statement_is_allowed(self, sql):
        check_statement(sql, "sqlite")

    @pytest.mark.parametrize(
        ("name", "argument", "allowed"),
        [
            ("foreign_keys", "ON", True),
            ("foreign_keys", "off", False),
            ("journal_mode", "wal", True),
            ("journal_mode", "delete", False),
            ("table_info", "audit_log", True),
            ("writable_schema", None, False),
            ("foreign_keys", None, True),
        ],
    )
    def test_pragma_allow_list(self, name, argument, allowed):
        assert pragma_allowed(name, argument) is allowed

    def test_authorizer_denies_trigger_changes(self):
        verdict = sqlite_authorizer(
            sqlite3.SQLITE_DROP_TRIGGER,
            "audit_log_reject_update",
            "audit_log",
            "main",
            None,
        )

        assert verdict == sqlite3.SQLITE_DENY

    def test_authorizer_denies_unlisted_pragma(self):
        verdict = sqlite_authorizer(
            sqlite3.SQLITE_PRAGMA, "foreign_keys", "OFF", None, None
        )

        assert verdict == sqlite3.SQLITE_DENY

    def test_authorizer_allows_reads(self):
        verdict = sqlite_authorizer(
            sqlite3.SQLITE_READ, "audit_log", "details", "main", None
        )

        assert verdict == sqlite3.SQLITE_OK

    def test_authorizer_inside_sqlite_denies_drop_trigger(self):
        connection = sqlite3.connect(":memory:")
        connection.execute("CREATE TABLE audit_log (id INTEGER)")
        connection.execute(
            "CREATE TRIGGER keep BEFORE DELETE ON audit_log"
            " BEGIN SELECT RAISE(ABORT, 'kept'); END"
        )
        connection.set_authorizer(sqlite_authorizer)

        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            connection.execute("DROP TRIGGER keep")
        triggers = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall()
        connection.close()

        assert triggers == [("keep",)]


class TestRefusal:
    def test_error_names_kind_reason_and_statement(self):
        error = refusal_of("TRUNCATE audit_log", "postgresql")

        assert not isinstance(error, SolvereignError)
        assert "truncate" in str(error)
        assert "TRUNCATE empties tables" in str(error)
        assert "Statement: TRUNCATE audit_log" in str(error)
        assert len(error.statement_sha256) == 64

    def test_refusal_is_logged_as_critical(self, caplog):
        with caplog.at_level(logging.CRITICAL, logger="db.sql_guard"):
            refusal_of("SET ROLE admin", "postgresql")

        assert [record.levelno for record in caplog.records] == [logging.CRITICAL]
        assert "role switch" in caplog.records[0].getMessage()

    def test_excerpt_masks_control_characters(self):
        excerpt = shorten_statement("SET ROLE\x1b[31m admin\u202e;\tSELECT\r\n1")

        assert "\x1b" not in excerpt
        assert "\u202e" not in excerpt
        assert "\r" not in excerpt
        assert excerpt.startswith("SET ROLE\ufffd[31m admin\ufffd; SELECT 1")

    def test_excerpt_of_long_statement_is_shortened(self):
        sql = "TRUNCATE audit_log; " + "SELECT 1; " * 500

        excerpt = shorten_statement(sql)

        assert excerpt.startswith("TRUNCATE audit_log; SELECT 1;")
        assert excerpt.endswith(f"... ({len(sql)} characters in all)")
        assert len(excerpt) < MAX_EXCERPT_CHARACTERS + 40

    def test_parser_message_in_reason_is_masked(self):
        error = refusal_of("SELECT 'unterminated\x1b", "postgresql")

        assert "\x1b" not in error.reason

    def test_unknown_dialect_is_refused(self):
        error = refusal_of("SELECT 1", "mysql")

        assert error.kind == UNPARSEABLE
        assert "mysql" in error.reason

    def test_repeated_statement_is_served_from_the_cache(self):
        sql = "SELECT plans.id FROM plans WHERE plans.id = $1 -- cache test"
        check_statement(sql, "postgresql")
        hits_before = _cached_refusal.cache_info().hits

        check_statement(sql, "postgresql")

        assert _cached_refusal.cache_info().hits == hits_before + 1

    def test_cached_refusal_is_raised_again(self):
        first = refusal_of("SET ROLE admin -- twice", "postgresql")

        second = refusal_of("SET ROLE admin -- twice", "postgresql")

        assert second is not first
        assert second.kind == first.kind == ROLE


def typed_node_fields() -> dict[str, str]:
    """Map each field whose C type is a pointer to a ruled node type to that type."""
    fields = {}
    for _, node_class in inspect.getmembers(ast, inspect.isclass):
        slots = getattr(node_class, "__slots__", None)
        if not isinstance(slots, dict):
            continue
        for field, slot in slots.items():
            node_type = slot.c_type.rstrip("*")
            if slot.c_type.endswith("*") and node_type in _NODE_RULES:
                fields[field] = node_type
    return fields


def test_every_unwrapped_node_field_of_a_ruled_type_is_known():
    # libpg_query's JSON leaves out the {"NodeType": ...} wrapper where a
    # field's C type names the node type, so the walk must know such fields.
    assert typed_node_fields() == _UNWRAPPED_NODE_FIELDS


def test_guarded_engine_of_other_dialect_is_rejected():
    with pytest.raises(ValueError, match="no rules for mysql"):
        make_engine("mysql://user@127.0.0.1/solvereign")


@pytest.mark.parametrize(
    "statement",
    [
        "SET app.cross_tenant_lookup = 'on'",
        "SET LOCAL app.cross_tenant_lookup = 'on'",
        "SELECT set_config('app.cross_tenant_lookup', 'on', true)",
        "select SET_CONFIG('APP.CROSS_TENANT_LOOKUP', 'on', false)",
    ],
)
def test_cross_tenant_lookup_switch_is_refused(statement):
    with pytest.raises(DangerousSQLRefused, match="cross_tenant_lookup"):
        check_statement(statement, "postgresql")
