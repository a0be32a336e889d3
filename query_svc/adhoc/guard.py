"""Whether an ExecuteSql query may run: exactly one read-only query over the org's own relations.

Two parsers check it, so neither's blind spot is a hole. ``check_query`` parses the text with sqlglot
(DuckDB dialect) and refuses, each with a precise message: more or less than one statement; a
statement that is not a query (DDL, DML, ATTACH, COPY, PRAGMA, SET, INSTALL/LOAD, EXPORT, CALL ...);
``WITH RECURSIVE``; a table that is not one of ``QUERYABLE`` (nor a CTE in scope), a qualified name
other than the org's own dataset (another org's dataset is PERMISSION_DENIED), a file path; a table
function or function that reads files, URLs, variables, settings, the catalog or runs SQL text.
``check_parsed`` then reads the statement as DuckDB itself parsed it (``json_serialize_sql``, on the
connection that will run it) and applies the allow-lists: every function (operators included) must
be in ``ALLOWED_FUNCTIONS``, every table function in ``ALLOWED_TABLE_FUNCTIONS``, every base table
a queryable relation or a CTE visible where it is named. The engine is locked down as well
(engine.py), so a gap here still reaches no file, setting or other org.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.scope import traverse_scope

from cloudact_shared.errors import FieldViolation, InvalidArgument, PermissionDenied
from cloudact_shared.naming import ORG_SLUG_PATTERN, echo
from query_svc.adhoc.views import QUERYABLE

ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "json_each", "json_tree"})
"""Table functions that make rows from their arguments alone."""

ALLOWED_FUNCTIONS = frozenset(
    {
        # Operators, as DuckDB's parser names them (arithmetic, string, LIKE/ILIKE/GLOB, JSON, lists).
        *("+", "-", "*", "/", "//", "%", "**", "^", "@", "&", "|", "~", "<<", ">>", "!__postfix", "||", "^@"),
        *("~~", "!~~", "~~*", "!~~*", "~~~", "->>", "@>", "<@", "&&", "<->"),
        # Aggregates and window functions.
        *("any_value", "approx_count_distinct", "approx_quantile", "arbitrary", "arg_max", "arg_max_null",
          "arg_min", "arg_min_null", "argmax", "argmin", "array_agg", "avg", "bit_and", "bit_or", "bit_xor",
          "bool_and", "bool_or", "corr", "count", "count_star", "count_if", "countif", "covar_pop",
          "covar_samp", "entropy", "favg", "first", "fsum", "geomean", "geometric_mean", "group_concat",
          "histogram", "kahan_sum", "kurtosis", "kurtosis_pop", "last", "list", "listagg", "mad", "max",
          "max_by", "mean", "median", "min", "min_by", "mode", "product", "quantile", "quantile_cont",
          "quantile_disc", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept", "regr_r2",
          "regr_slope", "regr_sxx", "regr_sxy", "regr_syy", "sem", "skewness", "stddev", "stddev_pop",
          "stddev_samp", "string_agg", "sum", "sumkahan", "var_pop", "var_samp", "variance", "wavg",
          "weighted_avg"),
        *("cume_dist", "dense_rank", "fill", "first_value", "lag", "last_value", "lead", "nth_value", "ntile",
          "percent_rank", "rank", "rank_dense", "row_number"),
        # Numbers.
        *("abs", "acos", "add", "asin", "atan", "atan2", "cbrt", "ceil", "ceiling", "cos", "cot", "degrees",
          "divide", "even", "exp", "factorial", "fdiv", "floor", "fmod", "gamma", "gcd", "greatest", "isfinite",
          "isinf", "isnan", "lcm", "least", "ln", "log", "log10", "log2", "mod", "multiply", "pi", "pow",
          "power", "radians", "random", "round", "round_even", "roundbankers", "sign", "signbit", "sin",
          "sqrt", "subtract", "tan", "trunc", "xor"),
        # Text.
        *("ascii", "base64", "bin", "chr", "concat", "concat_ws", "contains", "damerau_levenshtein",
          "ends_with", "format", "format_bytes", "from_base64", "hamming", "hash", "hex", "ilike_escape",
          "instr", "jaccard", "jaro_similarity", "jaro_winkler_similarity", "lcase", "left", "len", "length",
          "levenshtein", "like_escape", "lower", "lpad", "ltrim", "md5", "mismatches", "nfc_normalize",
          "not_ilike_escape", "not_like_escape", "ord", "position", "prefix", "printf", "regexp_escape",
          "regexp_extract", "regexp_extract_all", "regexp_full_match", "regexp_matches", "regexp_replace",
          "regexp_split_to_array", "repeat", "replace", "reverse", "right", "rpad", "rtrim", "sha1", "sha256",
          "split", "split_part", "starts_with", "str_split", "str_split_regex", "string_split",
          "string_split_regex", "string_to_array", "strip_accents", "strlen", "strpos", "substr", "substring",
          "suffix", "to_base64", "to_hex", "translate", "trim", "ucase", "unhex", "unicode", "upper",
          "url_decode", "url_encode"),
        # Dates and times.
        *("age", "century", "current_date", "current_localtime", "current_localtimestamp", "date_add",
          "date_diff", "date_part", "date_sub", "date_trunc", "datediff", "datepart", "datesub", "datetrunc",
          "day", "dayname", "dayofmonth", "dayofweek", "dayofyear", "decade", "epoch", "epoch_ms", "epoch_ns",
          "epoch_us", "era", "get_current_time", "get_current_timestamp", "hour", "isodow", "isoyear",
          "julian", "last_day", "make_date", "make_time", "make_timestamp", "make_timestamp_ms",
          "make_timestamp_ns", "make_timestamptz", "microsecond", "millennium", "millisecond", "minute",
          "month", "monthname", "nanosecond", "now", "quarter", "second", "strftime", "strptime",
          "time_bucket", "timezone", "timezone_hour", "timezone_minute", "to_centuries", "to_days",
          "to_decades", "to_hours", "to_microseconds", "to_millennia", "to_milliseconds", "to_minutes",
          "to_months", "to_quarters", "to_seconds", "to_timestamp", "to_weeks", "to_years", "today",
          "transaction_timestamp", "try_strptime", "week", "weekday", "weekofyear", "year", "yearweek"),
        # Conditionals and identifiers.
        *("if", "nullif", "typeof", "gen_random_uuid", "uuid", "uuidv4", "uuidv7"),
        # JSON (the Tags column is a JSON object).
        *("array_to_json", "from_json", "from_json_strict", "json", "json_array", "json_array_length",
          "json_contains", "json_exists", "json_extract", "json_extract_path", "json_extract_path_text",
          "json_extract_string", "json_group_array", "json_group_object", "json_group_structure", "json_keys",
          "json_merge_patch", "json_object", "json_pretty", "json_quote", "json_structure", "json_transform",
          "json_transform_strict", "json_type", "json_valid", "json_value", "row_to_json", "to_json"),
        # Lists, structs, maps (labels are lists of key/value structs).
        *("aggregate", "apply", "array_aggr", "array_aggregate", "array_append", "array_apply", "array_cat",
          "array_concat", "array_contains", "array_distinct", "array_extract", "array_filter",
          "array_grade_up", "array_has", "array_has_all", "array_has_any", "array_indexof",
          "array_intersect", "array_length", "array_position", "array_prepend", "array_reduce",
          "array_resize", "array_reverse", "array_reverse_sort", "array_select", "array_slice", "array_sort",
          "array_to_string", "array_transform", "array_unique", "array_value", "array_where", "array_zip",
          "cardinality", "element_at", "filter", "flatten", "generate_series", "grade_up", "list_aggr",
          "list_aggregate", "list_any_value", "list_append", "list_apply", "list_avg", "list_bool_and",
          "list_bool_or", "list_cat", "list_concat", "list_contains", "list_count", "list_distinct",
          "list_element", "list_extract", "list_filter", "list_first", "list_grade_up", "list_has",
          "list_has_all", "list_has_any", "list_indexof", "list_intersect", "list_last", "list_max",
          "list_median", "list_min", "list_mode", "list_pack", "list_position", "list_prepend",
          "list_product", "list_reduce", "list_resize", "list_reverse", "list_reverse_sort", "list_select",
          "list_slice", "list_sort", "list_string_agg", "list_sum", "list_transform", "list_unique",
          "list_value", "list_where", "list_zip", "map", "map_concat", "map_contains", "map_contains_entry",
          "map_contains_value", "map_entries", "map_extract", "map_extract_value", "map_from_entries",
          "map_keys", "map_values", "range", "reduce", "row", "struct_concat", "struct_extract",
          "struct_extract_at", "struct_insert", "struct_keys", "struct_pack", "struct_values",
          "union_extract", "union_tag", "union_value", "unnest"),
    }
)  # fmt: skip
"""DuckDB functions a query may call: pure functions of their arguments. Not here, so refused:
anything that reads files or URLs (read_*, *_scan, glob), variables or settings (getvariable,
current_setting), the catalog or session (duckdb_*, pragma_*, current_user, version), runs SQL text
(query, query_table, json_execute_serialized_sql), sleeps, or touches sequences and logs."""

MAX_SQL_CHARS = 100_000

_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery)
_NOT_QUERIES = (
    exp.DDL, exp.DML, exp.Drop, exp.Alter, exp.Copy, exp.Attach, exp.Detach, exp.Pragma, exp.Set,
    exp.Install, exp.Use, exp.Command, exp.Describe, exp.Summarize, exp.Transaction, exp.Commit,
    exp.Rollback,
)  # fmt: skip
_FILE_READERS = ("read_", "parquet_", "delta_", "iceberg_", "glob", "sniff_csv", "arrow_scan", "seq_scan")
_STATE_READERS = ("getvariable", "current_setting", "duckdb_", "pragma_", "current_", "version", "which_secret")
_SQL_RUNNERS = ("query", "query_table", "json_execute_serialized_sql", "json_serialize_sql", "json_deserialize_sql")
_SQLGLOT_READERS = (exp.ReadCSV, exp.ReadParquet, exp.ToFile)

# sqlglot logs (at WARNING) each statement it falls back to parsing as a Command; refusing those is
# this module's job, and the log would carry callers' SQL.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def check_query(sql: str, org_slug: str) -> None:
    """Refuses ``sql`` unless it is one read-only query over ``org_slug``'s relations (sqlglot).

    Raises:
        InvalidArgument: the query is empty, too long, does not parse, or asks for anything but
            reading the org's FOCUS table and seed views (the message says what and why).
        PermissionDenied: it names another org's dataset.
    """
    if not sql.strip():
        raise _refused("the query is empty: send one SELECT", "SQL_EMPTY")
    if len(sql) > MAX_SQL_CHARS:
        raise _refused(f"the query is {len(sql)} characters long; at most {MAX_SQL_CHARS} are read", "SQL_TOO_LONG")
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as exc:
        raise _parse_error(sql, exc) from None
    except RecursionError:
        raise _too_deep() from None
    if len(statements) != 1:
        kinds = ", ".join(_kind(s) for s in statements)
        raise _refused(
            f"send exactly one query; this text holds {len(statements)} statements ({kinds})", "SQL_MULTIPLE_STATEMENTS"
        )
    root = statements[0]
    if not isinstance(root, _QUERY_ROOTS):
        raise _not_a_query(_kind(root))
    for node in root.walk():  # walk() is iterative (breadth-first)
        if isinstance(node, _NOT_QUERIES):
            raise _not_a_query(_kind(node))
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise _recursive()
        if isinstance(node, _SQLGLOT_READERS):
            raise _function_refused(node.sql_name().lower())
        if isinstance(node, exp.Anonymous) and not _table_function(node):
            name = node.name.lower()
            if name not in ALLOWED_FUNCTIONS:
                raise _function_refused(name)
    try:
        _check_tables(root, org_slug)
    except RecursionError:
        raise _too_deep() from None


def check_parsed(con: duckdb.DuckDBPyConnection, sql: str, dataset: str) -> None:
    """Refuses ``sql`` unless DuckDB's own parser sees one SELECT whose functions and tables are allowed.

    Run on the connection that will execute ``sql``, after ``check_query``: it sees exactly what
    DuckDB will run. ``dataset`` is the org's dataset, the one qualifier a table may carry.

    Raises:
        InvalidArgument: not exactly one SELECT, or a function, table function, recursive CTE or
            table outside the allow-lists.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise _refused(f"the query does not parse: {_first_line(exc)}", "SQL_PARSE_ERROR") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(str(s.type.name) for s in statements)
        raise _refused(f"send exactly one SELECT query; DuckDB reads {kinds or 'nothing'}", "SQL_NOT_A_QUERY")
    serialized = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    try:
        tree = json.loads(serialized[0][0]) if serialized else {"error": True}
    except RecursionError:
        raise _too_deep() from None
    if tree.get("error"):
        detail = tree.get("error_message", "unreadable query")
        raise _refused(f"only a plain query may run: {detail}", "SQL_NOT_A_QUERY")
    _walk_duckdb(tree["statements"], dataset)


def _check_tables(root: exp.Expression, org_slug: str) -> None:
    """Every table a relation the org may read, a CTE in scope, or an allowed table function."""
    try:
        scopes = list(traverse_scope(root))
    except SqlglotError as exc:
        raise _refused(f"the query's tables cannot be resolved: {exc}", "SQL_UNSUPPORTED") from None
    seen: set[int] = set()
    for scope in scopes:
        for table in scope.tables:
            seen.add(id(table))
            in_scope = table.name in scope.cte_sources and not table.db and not table.catalog
            if not in_scope:
                _check_table(table, org_slug)
    for table in root.find_all(exp.Table):  # anything the scopes did not cover, checked strictly
        if id(table) not in seen:
            _check_table(table, org_slug)


def _check_table(table: exp.Table, org_slug: str) -> None:
    if isinstance(table.this, exp.Func):
        name = _function_name(table.this)
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise _function_refused(name)
        return
    if isinstance(table.this, exp.Literal) or any(c in table.name for c in "/\\:") or "." in table.name:
        raise _refused(
            f"{echo(table.name)} is a file path or URL: only the tables {_queryable()} can be read",
            "SQL_TABLE_NOT_ALLOWED",
        )
    if table.catalog:
        raise _refused(
            f"{echo(table.sql('duckdb'))}: name a table bare (aws_dci) or by your dataset ({org_slug}_prod.aws_dci)",
            "SQL_TABLE_NOT_ALLOWED",
        )
    if table.db and table.db != f"{org_slug}_prod":
        other = table.db.removesuffix("_prod")
        if table.db.endswith("_prod") and ORG_SLUG_PATTERN.fullmatch(other):
            raise PermissionDenied(
                f"{table.db}.{table.name} belongs to org {other!r}: a query reads only org {org_slug!r}'s tables",
                reason="SQL_OTHER_ORG",
                metadata={"org_slug": org_slug},
            )
        raise _refused(
            f"{echo(table.sql('duckdb'))} is not one of your tables: only {_queryable()} "
            f"(bare, or in {org_slug}_prod) can be read",
            "SQL_TABLE_NOT_ALLOWED",
        )
    if table.name not in QUERYABLE:
        raise _refused(
            f"table {echo(table.name)} is not allowed: a query reads only {_queryable()} (and its own CTEs)",
            "SQL_TABLE_NOT_ALLOWED",
        )


def _walk_duckdb(tree: Any, dataset: str) -> None:
    """Checks DuckDB's parse tree (json_serialize_sql): functions, table functions, tables, CTE scope.

    Iterative (a stack of (node, CTE names visible there)): a deeply nested query cannot overflow it.
    """
    stack: list[tuple[Any, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, ctes = stack.pop()
        if isinstance(node, list):
            stack.extend((item, ctes) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "RECURSIVE_CTE_NODE":
            raise _recursive()
        if kind == "SHOW_REF":
            raise _not_a_query("DESCRIBE")
        if kind == "BASE_TABLE":
            _check_base_table(node, ctes, dataset)
        children = dict(node)
        if kind == "TABLE_FUNCTION":
            function = children.pop("function", None) or {}
            name = str(function.get("function_name", "")).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS or function.get("schema") or function.get("catalog"):
                raise _function_refused(name)
            stack.append((function.get("arguments"), ctes))
        elif node.get("class") == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            if name not in ALLOWED_FUNCTIONS or node.get("schema") or node.get("catalog"):
                raise _function_refused(name)
        cte_map = children.pop("cte_map", None)
        if isinstance(cte_map, dict) and cte_map.get("map"):
            # A CTE sees the CTEs defined before it; the query body sees them all.
            names = [str(entry.get("key", "")) for entry in cte_map["map"]]
            stack.extend((entry.get("value"), ctes | set(names[:i])) for i, entry in enumerate(cte_map["map"]))
            ctes = ctes | set(names)
        stack.extend((value, ctes) for value in children.values())


def _check_base_table(node: dict[str, Any], ctes: frozenset[str], dataset: str) -> None:
    name = str(node.get("table_name", ""))
    schema, catalog = node.get("schema_name") or "", node.get("catalog_name") or ""
    if catalog or schema not in ("", dataset) or name not in (QUERYABLE if schema else QUERYABLE | ctes):
        shown = ".".join(p for p in (catalog, schema, name) if p)
        raise _refused(
            f"table {echo(shown)} is not allowed: a query reads only {_queryable()} (and its own CTEs)",
            "SQL_TABLE_NOT_ALLOWED",
        )


def _table_function(node: exp.Expression) -> bool:
    return isinstance(node.parent, exp.Table) and node.parent.this is node


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.GenerateSeries):
        return "range" if node.args.get("is_end_exclusive") else "generate_series"
    return node.sql_name().lower()


def _function_refused(name: str) -> InvalidArgument:
    if name.startswith(_FILE_READERS):
        why = "it reads files or URLs"
    elif name.startswith(_STATE_READERS):
        why = "it reads the database's settings, variables, catalog or session"
    elif name in _SQL_RUNNERS:
        why = "it runs SQL text that this check never saw"
    else:
        why = "only pure functions of their arguments (arithmetic, text, dates, JSON, lists, aggregates) may run"
    return _refused(f"function {name or '?'}() is not allowed: {why}", "SQL_FUNCTION_NOT_ALLOWED")


def _not_a_query(kind: str) -> InvalidArgument:
    return _refused(
        f"only a read-only query (SELECT, WITH ... SELECT, UNION ...) may run; this is {kind}", "SQL_NOT_A_QUERY"
    )


def _too_deep() -> InvalidArgument:
    return _refused("the query nests expressions or subqueries too deeply to be checked: flatten it", "SQL_TOO_DEEP")


def _recursive() -> InvalidArgument:
    return _refused("recursive CTEs (WITH RECURSIVE) are not allowed: a query must end on its own", "SQL_RECURSIVE_CTE")


def _kind(statement: exp.Expr) -> str:
    """A statement's kind for a message: DROP, ATTACH, LOAD ..."""
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    if isinstance(statement, exp.Column):  # a bare word such as CHECKPOINT
        return statement.name.upper()
    return statement.key.upper()


def _parse_error(sql: str, exc: ParseError) -> InvalidArgument:
    """The parse error, or, when DuckDB reads a statement sqlglot cannot (EXPORT DATABASE ...), what it is."""
    try:
        with duckdb.connect(":memory:") as scratch:  # parses only: nothing runs, no data in it
            kinds = [s.type for s in scratch.extract_statements(sql)]
    except duckdb.Error:
        kinds = []
    if len(kinds) > 1:
        return _refused(f"send exactly one query; this text holds {len(kinds)} statements", "SQL_MULTIPLE_STATEMENTS")
    if kinds and kinds[0] != duckdb.StatementType.SELECT:
        return _not_a_query(str(kinds[0].name))
    errors = exc.errors[0] if exc.errors else {}
    where = f" at line {errors.get('line')}, column {errors.get('col')}" if errors else ""
    detail = errors.get("description") or str(exc).splitlines()[0]
    return _refused(f"the query does not parse as DuckDB SQL{where}: {detail}", "SQL_PARSE_ERROR")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _queryable() -> str:
    return ", ".join(sorted(QUERYABLE))


def _refused(message: str, reason: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, violations=[FieldViolation("sql", message)])
