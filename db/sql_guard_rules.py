"""The rules of the SQL guard, applied to PostgreSQL's own parse tree.

`find_refusal` parses SQL text with pglast (libpg_query, the parser of the
PostgreSQL server itself), walks every node of every statement, nested ones
included, and returns the first rule the text breaks. It reads the parse
tree as libpg_query's JSON, which is several times faster to build than
pglast's node objects. A statement is
dangerous when it would:

- switch the database role (SET ROLE, SET SESSION AUTHORIZATION, RESET ROLE,
  GRANT of a role, a role with SUPERUSER or BYPASSRLS);
- change row_security, or session_replication_role, whose value replica
  skips ordinary triggers;
- set app.tenant_id for the whole session instead of the transaction;
- switch row-level security off for a table (DISABLE, NO FORCE, a new owner);
- create, alter or drop a policy;
- disable, drop, create or demote a trigger (ENABLE REPLICA), or create a
  rule, because either can skip or rewrite rows such as audit entries;
- truncate a table, drop objects with CASCADE or DROP OWNED;
- create a SECURITY DEFINER or LEAKPROOF function;
- update pg_settings, whose update rule calls set_config for the session.

The same rules apply inside DO blocks and function bodies (PL/pgSQL through
pglast's parse_plpgsql, SQL-language bodies through parse_sql), inside the
string literals that EXECUTE runs and inside the query text of
query_to_xml. SQL the guard cannot see is refused as well: text that does
not parse, EXECUTE of an expression other than a string literal, set_config
with a setting name that is not a literal, dblink, and code in other
languages.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pglast import parse_plpgsql
from pglast.parser import ParseError, parse_sql_json, scan

# The setting that carries the tenant of the current transaction.
TENANT_SETTING = "app.tenant_id"
# Maximum nesting of EXECUTE literals, DO blocks and function bodies.
MAX_NESTING = 8

# A node of libpg_query's JSON tree: {"NodeType": {field: value, ...}}.
# Fields at their default value (false, 0, empty) are left out.
JsonNode = dict[str, Any]


class RefusalKind(enum.StrEnum):
    """The kind of safeguard a refused statement would switch off."""

    ROLE_SWITCH = "role switch"
    ROW_SECURITY_SETTING = "row_security change"
    ROW_LEVEL_SECURITY_OFF = "row-level security off"
    POLICY_CHANGE = "policy change"
    TRIGGER_BYPASS = "trigger bypass"
    TRUNCATE = "truncate"
    CASCADING_DROP = "cascading drop"
    SESSION_TENANT = "session-wide tenant"
    SETTINGS_TABLE_WRITE = "pg_settings update"
    PRIVILEGE_ESCALATION = "privilege escalation"
    UNINSPECTABLE_CODE = "uninspectable code"
    SQLITE_PRAGMA = "SQLite pragma"
    UNPARSEABLE = "unparseable SQL"


@dataclass(frozen=True)
class Refusal:
    """Why one statement is refused: its kind and a reason in words."""

    kind: RefusalKind
    reason: str


@dataclass(frozen=True)
class _Scope:
    """The statement a node belongs to, and how deeply its text is nested."""

    depth: int
    statement_sql: str
    statement_type: str


def find_refusal(sql: str, depth: int = 0) -> Refusal | None:
    """Return the first rule that PostgreSQL SQL text breaks, or None.

    `sql` is the text as the server receives it, with `$1` placeholders.
    `depth` counts the DO blocks, function bodies and EXECUTE literals the
    text sits in.
    """
    if depth > MAX_NESTING:
        return Refusal(
            RefusalKind.UNINSPECTABLE_CODE,
            f"dynamic SQL is nested more than {MAX_NESTING} levels deep",
        )
    try:
        tree = json.loads(parse_sql_json(sql))
    except ParseError as error:
        return Refusal(
            RefusalKind.UNPARSEABLE, f"PostgreSQL's parser rejects it: {error}"
        )
    encoded = sql.encode("utf-8")
    for raw_statement in tree.get("stmts", ()):
        statement = raw_statement["stmt"]
        scope = _Scope(
            depth=depth,
            statement_sql=_statement_text(encoded, raw_statement),
            statement_type=next(iter(statement)),
        )
        refusal = _walk(statement, scope)
        if refusal is not None:
            return refusal
    return None


def _statement_text(encoded: bytes, raw_statement: dict[str, Any]) -> str:
    """Cut one statement out of the text; a length of 0 runs to the end.

    libpg_query's offsets count UTF-8 bytes, not characters.
    """
    start = raw_statement.get("stmt_location", 0)
    length = raw_statement.get("stmt_len", 0)
    end = start + length if length else len(encoded)
    return encoded[start:end].decode("utf-8")


# Fields whose value is a node of a ruled type written without its
# {"NodeType": ...} wrapper, because the field's C type names that type:
# AlterRoleSetStmt.setstmt (also of ALTER DATABASE and ALTER SYSTEM) and
# CallStmt.funccall.
_UNWRAPPED_NODE_FIELDS = {"setstmt": "VariableSetStmt", "funccall": "FuncCall"}


def _walk(tree: Any, scope: _Scope) -> Refusal | None:
    """Apply the rule of every node type found anywhere in the tree."""
    pending = [tree]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
            continue
        for key, value in item.items():
            rule = _NODE_RULES.get(_UNWRAPPED_NODE_FIELDS.get(key, key))
            refusal = None if rule is None else rule(value, scope)
            if refusal is not None:
                return refusal
            if isinstance(value, dict | list):
                pending.append(value)
    return None


def _string(node: JsonNode | None) -> str | None:
    """Return the text of a {"String": ...} node, else None."""
    if node is None or "String" not in node:
        return None
    return node["String"].get("sval", "")


def _items(node: JsonNode | None) -> list[Any]:
    """Return the items of a {"List": ...} node, or []."""
    if node is None or "List" not in node:
        return []
    return node["List"].get("items", [])


# Settings that may never change, by the safeguard each one controls.
_GUARDED_SETTINGS = {
    "role": (RefusalKind.ROLE_SWITCH, "switches the database role"),
    "session_authorization": (RefusalKind.ROLE_SWITCH, "switches the session user"),
    "row_security": (
        RefusalKind.ROW_SECURITY_SETTING,
        "changes row_security, which decides whether row-level security applies",
    ),
    "app.cross_tenant_lookup": (
        RefusalKind.ROW_SECURITY_SETTING,
        (
            "changes app.cross_tenant_lookup, which only the lookup functions of"
            " the migrations may switch on, since it widens what row-level"
            " security admits for the owner role"
        ),
    ),
    "session_replication_role": (
        RefusalKind.TRIGGER_BYPASS,
        (
            "changes session_replication_role, whose value replica skips the"
            " triggers that protect the audit log and approved plans"
        ),
    ),
}


def _setting_refusal(name: str, is_local: bool, statement: str) -> Refusal | None:
    setting = name.lower()
    if setting in _GUARDED_SETTINGS:
        kind, effect = _GUARDED_SETTINGS[setting]
        return Refusal(kind, f"{statement} {effect}")
    if setting == TENANT_SETTING and not is_local:
        return Refusal(
            RefusalKind.SESSION_TENANT,
            f"{statement} changes {TENANT_SETTING} for the whole session; use SET"
            f" LOCAL or set_config('{TENANT_SETTING}', ..., true) so the tenant"
            " ends with the transaction",
        )
    return None


def _check_variable_set(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    name = fields.get("name")
    if name is None:
        return None
    is_local = bool(fields.get("is_local"))
    if fields.get("kind") == "VAR_RESET":
        statement = f"RESET {name}"
    elif is_local:
        statement = f"SET LOCAL {name}"
    else:
        statement = f"SET {name}"
    return _setting_refusal(name, is_local, statement)


_NOT_CONSTANT = object()
_TRUE_SPELLINGS = frozenset({"t", "true", "y", "yes", "on", "1"})


def _constant(node: JsonNode | None) -> Any:
    """Return the value of a literal, casts removed, or _NOT_CONSTANT."""
    while node is not None and "TypeCast" in node:
        node = node["TypeCast"].get("arg")
    if node is None or "A_Const" not in node:
        return _NOT_CONSTANT
    constant = node["A_Const"]
    if constant.get("isnull"):
        return None
    if "sval" in constant:
        return constant["sval"].get("sval", "")
    if "boolval" in constant:
        return constant["boolval"].get("boolval", False)
    if "ival" in constant:
        return constant["ival"].get("ival", 0)
    return _NOT_CONSTANT


def _option_is_on(argument: JsonNode | None) -> bool:
    """Tell whether a DefElem option (SUPERUSER, SECURITY DEFINER, ...) is on.

    The parser stores such flags as bare Boolean or Integer nodes; an option
    with another value, such as IN ROLE's role list, counts as on.
    """
    if argument is None:
        return False
    if "Boolean" in argument:
        return bool(argument["Boolean"].get("boolval", False))
    if "Integer" in argument:
        return argument["Integer"].get("ival", 0) != 0
    return True


def _is_literal_true(node: JsonNode | None) -> bool:
    value = _constant(node)
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in _TRUE_SPELLINGS


def _call_arguments(
    fields: dict[str, Any], names: tuple[str, ...]
) -> dict[str, JsonNode]:
    """Map a call's arguments, positional or named (name => value), to names."""
    arguments: dict[str, JsonNode] = {}
    for position, argument in enumerate(fields.get("args", ())):
        if "NamedArgExpr" in argument:
            named = argument["NamedArgExpr"]
            arguments[named.get("name", "").lower()] = named.get("arg")
        elif position < len(names):
            arguments[names[position]] = argument
    return arguments


# Functions that run the SQL text of their first argument.
_QUERY_TEXT_FUNCTIONS = frozenset(
    {"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema"}
)


def _check_function_call(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    name = (_string(fields["funcname"][-1]) or "").lower()
    if name == "set_config":
        return _check_set_config(fields)
    if name in _QUERY_TEXT_FUNCTIONS:
        query = _constant(_call_arguments(fields, ("query",)).get("query"))
        if not isinstance(query, str):
            return Refusal(
                RefusalKind.UNINSPECTABLE_CODE,
                f"{name} runs a query that is not a string literal",
            )
        return find_refusal(query, scope.depth + 1)
    if name.startswith("dblink"):
        return Refusal(
            RefusalKind.UNINSPECTABLE_CODE,
            f"{name} runs SQL on another connection, out of the guard's sight",
        )
    return None


def _check_set_config(fields: dict[str, Any]) -> Refusal | None:
    arguments = _call_arguments(fields, ("setting_name", "new_value", "is_local"))
    setting = _constant(arguments.get("setting_name"))
    if fields.get("func_variadic") or not isinstance(setting, str):
        return Refusal(
            RefusalKind.UNINSPECTABLE_CODE,
            "set_config is called with a setting name that is not a string"
            " literal, so the guard cannot tell which setting it changes",
        )
    is_local = _is_literal_true(arguments.get("is_local"))
    return _setting_refusal(setting, is_local, f"set_config('{setting}', ...)")


_ALTER_TABLE_REFUSALS = {
    "AT_DisableTrig": (
        RefusalKind.TRIGGER_BYPASS,
        "ALTER TABLE ... DISABLE TRIGGER switches a trigger off",
    ),
    "AT_DisableTrigAll": (
        RefusalKind.TRIGGER_BYPASS,
        "ALTER TABLE ... DISABLE TRIGGER ALL switches every trigger off",
    ),
    "AT_DisableTrigUser": (
        RefusalKind.TRIGGER_BYPASS,
        "ALTER TABLE ... DISABLE TRIGGER USER switches the table's triggers off",
    ),
    "AT_EnableReplicaTrig": (
        RefusalKind.TRIGGER_BYPASS,
        (
            "ALTER TABLE ... ENABLE REPLICA TRIGGER makes a trigger fire only in"
            " replica sessions, so ordinary sessions skip it"
        ),
    ),
    "AT_DisableRowSecurity": (
        RefusalKind.ROW_LEVEL_SECURITY_OFF,
        "ALTER TABLE ... DISABLE ROW LEVEL SECURITY switches the policies off",
    ),
    "AT_NoForceRowSecurity": (
        RefusalKind.ROW_LEVEL_SECURITY_OFF,
        (
            "ALTER TABLE ... NO FORCE ROW LEVEL SECURITY exempts the table owner"
            " from the policies"
        ),
    ),
    "AT_ChangeOwner": (
        RefusalKind.ROW_LEVEL_SECURITY_OFF,
        (
            "ALTER TABLE ... OWNER TO gives the table a new owner, and an owner"
            " can switch row-level security off"
        ),
    ),
}


def _check_alter_table_command(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    subtype = fields.get("subtype")
    if subtype in _ALTER_TABLE_REFUSALS:
        return Refusal(*_ALTER_TABLE_REFUSALS[subtype])
    return None


def _check_drop(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    if fields.get("removeType") == "OBJECT_POLICY":
        return Refusal(RefusalKind.POLICY_CHANGE, "DROP POLICY removes a policy")
    if fields.get("removeType") == "OBJECT_TRIGGER":
        return Refusal(RefusalKind.TRIGGER_BYPASS, "DROP TRIGGER removes a trigger")
    if fields.get("behavior") == "DROP_CASCADE":
        return Refusal(
            RefusalKind.CASCADING_DROP,
            "DROP ... CASCADE also drops the triggers and policies that depend"
            " on the object",
        )
    return None


def _check_rename(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    if fields.get("renameType") == "OBJECT_POLICY":
        return Refusal(
            RefusalKind.POLICY_CHANGE, "ALTER POLICY ... RENAME changes a policy"
        )
    return None


def _check_table_write(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    relation = fields.get("relation") or {}
    if relation.get("relname", "").lower() == "pg_settings":
        return Refusal(
            RefusalKind.SETTINGS_TABLE_WRITE,
            "writing pg_settings calls set_config for the whole session",
        )
    return None


# Role options that lift row-level security or hand over other roles'
# rights, by their name in the parse tree and as written in SQL.
_ESCALATING_ROLE_OPTIONS = {
    "superuser": "SUPERUSER",
    "bypassrls": "BYPASSRLS",
    "addroleto": "IN ROLE",
    "rolemembers": "ROLE",
    "adminmembers": "ADMIN",
}


def _definitions(options: list[JsonNode] | None) -> list[dict[str, Any]]:
    """Return the fields of each {"DefElem": ...} option in a list."""
    return [option["DefElem"] for option in options or () if "DefElem" in option]


def _check_role_options(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    for option in _definitions(fields.get("options")):
        name = option.get("defname")
        if name in _ESCALATING_ROLE_OPTIONS and _option_is_on(option.get("arg")):
            return Refusal(
                RefusalKind.PRIVILEGE_ESCALATION,
                f"{_ESCALATING_ROLE_OPTIONS[name]} in CREATE or ALTER ROLE lifts"
                " row-level security or hands over another role's rights",
            )
    return None


def _check_role_grant(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    if fields.get("is_grant"):
        return Refusal(
            RefusalKind.PRIVILEGE_ESCALATION,
            "GRANT of a role lets the grantee use that role's rights",
        )
    return None


def _function_option_refusal(options: list[JsonNode] | None) -> Refusal | None:
    for option in _definitions(options):
        name = option.get("defname")
        if name == "security" and _option_is_on(option.get("arg")):
            return Refusal(
                RefusalKind.PRIVILEGE_ESCALATION,
                "a SECURITY DEFINER function runs with its owner's rights",
            )
        if name == "leakproof" and _option_is_on(option.get("arg")):
            return Refusal(
                RefusalKind.PRIVILEGE_ESCALATION,
                "a LEAKPROOF function is called before row-level security"
                " filters the rows",
            )
    return None


def _option_value(options: list[JsonNode] | None, name: str) -> JsonNode | None:
    for option in _definitions(options):
        if option.get("defname") == name:
            return option.get("arg")
    return None


def _check_create_function(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    refusal = _function_option_refusal(fields.get("options"))
    if refusal is not None or "sql_body" in fields:
        # A BEGIN ATOMIC body is part of the parse tree and walked like it.
        return refusal
    language = _string(_option_value(fields.get("options"), "language")) or "sql"
    language = language.lower()
    body_parts = _items(_option_value(fields.get("options"), "as"))
    if language == "plpgsql" and scope.statement_type == "CreateFunctionStmt":
        return _plpgsql_refusal(scope.statement_sql, scope.depth)
    if language == "sql" and len(body_parts) == 1:
        return find_refusal(_string(body_parts[0]) or "", scope.depth + 1)
    return Refusal(
        RefusalKind.UNINSPECTABLE_CODE,
        f"a function in language {language} cannot be inspected",
    )


def _check_alter_function(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    return _function_option_refusal(fields.get("actions"))


def _check_do_block(fields: dict[str, Any], scope: _Scope) -> Refusal | None:
    language = _string(_option_value(fields.get("args"), "language")) or "plpgsql"
    if language.lower() != "plpgsql":
        return Refusal(
            RefusalKind.UNINSPECTABLE_CODE,
            f"a DO block in language {language} cannot be inspected",
        )
    body = _string(_option_value(fields.get("args"), "as")) or ""
    tag = "$guard$"
    suffix = 0
    while tag in body:
        suffix += 1
        tag = f"$guard{suffix}$"
    function = (
        "CREATE FUNCTION guard_do_block() RETURNS void LANGUAGE plpgsql"
        f" AS {tag}{body}{tag}"
    )
    return _plpgsql_refusal(function, scope.depth)


def _refuse(kind: RefusalKind, reason: str) -> Callable[[Any, _Scope], Refusal]:
    return lambda fields, scope: Refusal(kind, reason)


_NODE_RULES: dict[str, Callable[[dict[str, Any], _Scope], Refusal | None]] = {
    "VariableSetStmt": _check_variable_set,
    "FuncCall": _check_function_call,
    "AlterTableCmd": _check_alter_table_command,
    "DropStmt": _check_drop,
    "RenameStmt": _check_rename,
    "UpdateStmt": _check_table_write,
    "MergeStmt": _check_table_write,
    "CreateRoleStmt": _check_role_options,
    "AlterRoleStmt": _check_role_options,
    "GrantRoleStmt": _check_role_grant,
    "CreateFunctionStmt": _check_create_function,
    "AlterFunctionStmt": _check_alter_function,
    "DoStmt": _check_do_block,
    "TruncateStmt": _refuse(
        RefusalKind.TRUNCATE, "TRUNCATE empties tables without row triggers"
    ),
    "CreatePolicyStmt": _refuse(
        RefusalKind.POLICY_CHANGE,
        "CREATE POLICY adds a policy, and a permissive one widens what a tenant sees",
    ),
    "AlterPolicyStmt": _refuse(
        RefusalKind.POLICY_CHANGE, "ALTER POLICY changes which rows a policy admits"
    ),
    "CreateTrigStmt": _refuse(
        RefusalKind.TRIGGER_BYPASS,
        "CREATE TRIGGER can skip or rewrite rows; triggers come from migrations only",
    ),
    "RuleStmt": _refuse(
        RefusalKind.TRIGGER_BYPASS,
        "CREATE RULE can skip or rewrite rows; rules come from migrations only",
    ),
    "DropOwnedStmt": _refuse(
        RefusalKind.CASCADING_DROP,
        "DROP OWNED drops every object of a role, its policies included",
    ),
    "ReassignOwnedStmt": _refuse(
        RefusalKind.ROW_LEVEL_SECURITY_OFF,
        "REASSIGN OWNED gives tables a new owner, and an owner can switch"
        " row-level security off",
    ),
}


# PL/pgSQL statements that run SQL text built at run time, and the field
# holding the expression that builds it.
_DYNAMIC_SQL_FIELDS = {
    "PLpgSQL_stmt_dynexecute": "query",
    "PLpgSQL_stmt_dynfors": "query",
    "PLpgSQL_stmt_open": "dynquery",
    "PLpgSQL_stmt_return_query": "dynquery",
}
# libpg_query's RawParseMode values that PL/pgSQL expressions carry.
_PARSE_DEFAULT = 0
_PARSE_TYPE_NAME = 1
_PARSE_EXPRESSION = 2
_PARSE_ASSIGNMENTS = (3, 4, 5)


def _plpgsql_refusal(function_sql: str, depth: int) -> Refusal | None:
    """Check every SQL expression of a PL/pgSQL function, given as CREATE FUNCTION."""
    try:
        functions = parse_plpgsql(function_sql)
    except ParseError as error:
        return Refusal(
            RefusalKind.UNPARSEABLE,
            f"the PL/pgSQL parser rejects the body: {error}",
        )
    return _walk_plpgsql(functions, depth + 1)


def _walk_plpgsql(value: Any, depth: int) -> Refusal | None:
    """Walk the JSON tree of parse_plpgsql and check each expression in it."""
    if isinstance(value, list):
        items = value
    elif isinstance(value, dict):
        items = list(value.values())
        for key, item in value.items():
            refusal = None
            if key == "PLpgSQL_expr":
                refusal = _check_plpgsql_expression(item, depth)
            elif key in _DYNAMIC_SQL_FIELDS:
                refusal = _check_dynamic_sql(item.get(_DYNAMIC_SQL_FIELDS[key]), depth)
            if refusal is not None:
                return refusal
    else:
        return None
    for item in items:
        refusal = _walk_plpgsql(item, depth)
        if refusal is not None:
            return refusal
    return None


def _check_plpgsql_expression(expression: dict[str, Any], depth: int) -> Refusal | None:
    query = expression.get("query", "")
    mode = expression.get("parseMode", _PARSE_DEFAULT)
    if mode == _PARSE_DEFAULT:
        return find_refusal(query, depth)
    if mode == _PARSE_TYPE_NAME:
        return None
    if mode == _PARSE_EXPRESSION:
        # PL/pgSQL itself runs an expression as "SELECT <expression>".
        return find_refusal(f"SELECT {query}", depth)
    if mode in _PARSE_ASSIGNMENTS:
        target, value = _split_assignment(query)
        return find_refusal(f"SELECT {target}", depth) or find_refusal(
            f"SELECT {value}", depth
        )
    return Refusal(
        RefusalKind.UNINSPECTABLE_CODE,
        f"a PL/pgSQL expression has the unknown parse mode {mode}",
    )


def _split_assignment(assignment: str) -> tuple[str, str]:
    """Split "target := value" (or "target = value") at its top-level operator."""
    encoded = assignment.encode("utf-8")
    nesting = 0
    for token in scan(assignment):
        if token.name in ("ASCII_40", "ASCII_91"):  # ( and [
            nesting += 1
        elif token.name in ("ASCII_41", "ASCII_93"):  # ) and ]
            nesting -= 1
        elif nesting == 0 and token.name in ("COLON_EQUALS", "ASCII_61"):
            # Token offsets count UTF-8 bytes, and the end offset is inclusive.
            target = encoded[: token.start].decode("utf-8")
            value = encoded[token.end + 1 :].decode("utf-8")
            return target, value
    # No operator: parsing "SELECT <assignment>" as a whole then fails closed.
    return assignment, assignment


def _check_dynamic_sql(expression: Any, depth: int) -> Refusal | None:
    if expression is None:
        return None
    query = _string_literal(expression["PLpgSQL_expr"].get("query", ""))
    if query is None:
        return Refusal(
            RefusalKind.UNINSPECTABLE_CODE,
            "EXECUTE runs SQL built from an expression that is not a string"
            " literal, so the guard cannot see it",
        )
    return find_refusal(query, depth + 1)


# The fields that libpg_query writes for "SELECT 'literal'".
_BARE_SELECT_FIELDS = frozenset({"targetList", "limitOption", "op"})


def _string_literal(expression: str) -> str | None:
    """Return the value of an expression that is one string literal, else None."""
    try:
        tree = json.loads(parse_sql_json(f"SELECT {expression}"))
    except ParseError:
        return None
    statements = tree.get("stmts", [])
    if len(statements) != 1 or "SelectStmt" not in statements[0]["stmt"]:
        return None
    select = statements[0]["stmt"]["SelectStmt"]
    targets = select.get("targetList", [])
    if set(select) - _BARE_SELECT_FIELDS or len(targets) != 1:
        return None
    value = _constant(targets[0].get("ResTarget", {}).get("val"))
    return value if isinstance(value, str) else None
