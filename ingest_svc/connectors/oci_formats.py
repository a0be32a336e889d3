"""OCI cost report files (``reports/cost-csv``, CSV or gzip CSV) -> one DuckDB SELECT of raw-table rows.

The SELECT is built from the file's header (a DESCRIBE, no data read) and does all the work inside
DuckDB: every value is read as text and parsed with TRY_CAST, ``prefix/camelName`` columns become
``prefix_camel_name`` raw columns, the dynamic ``tags/<namespace>.<key>`` columns are folded into
one ``tags`` map (keys ``<namespace>.<key>``; the set of tag columns varies between files), unknown
columns are kept in ``extra_columns``, and an unparsable or missing key value sets the row's
``_quarantine_reason`` instead of failing the file.

OCI's own FOCUS reports (``FOCUS Reports/...``, 1.0-preview column names plus ``oci_*``) are
recognized by their header and rejected with a clear FailedPrecondition: this pipeline reads the
proprietary cost report only.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import LINEAGE_COLUMNS
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.schema import Column
from ingest_svc.connectors.sqltext import SourceColumn as _Source
from ingest_svc.connectors.sqltext import finish_raw_select, pipeline_columns
from ingest_svc.connectors.sqltext import sql_ident as _ident
from ingest_svc.connectors.sqltext import sql_literal as _lit

RAW_TABLE = "cloud_oci_billing_raw_daily"
SOURCE_FORMAT = "oci_cost_csv"

# A cost report without these cannot become FOCUS rows.
REQUIRED_COLUMNS = (
    "line_item_reference_no",
    "line_item_tenant_id",
    "line_item_interval_usage_start",
    "line_item_interval_usage_end",
    "product_service",
    "cost_my_cost",
    "cost_currency_code",
)
# Row-level checks, in order after the parse checks: the first that fails names the reason.
_MISSING_CHECKS = (
    ("line_item_interval_usage_start", "interval usage start"),
    ("line_item_interval_usage_end", "interval usage end"),
    ("line_item_tenant_id", "tenancy id"),
    ("product_service", "service"),
    ("cost_my_cost", "cost"),
    ("cost_currency_code", "currency code"),
)
_MAP_COLUMNS = ("tags", "extra_columns")
_DERIVED = {"billing_period", "source_format", "source_object", "ingestion_date"}
_LINEAGE = LINEAGE_COLUMNS
_NOT_FROM_SOURCE = {*_DERIVED, *_LINEAGE, *_MAP_COLUMNS}
_DUCK_TYPES = {"TIMESTAMP": "TIMESTAMPTZ", "BOOL": "BOOLEAN"}
_WHAT = {"TIMESTAMP": "timestamp", "BOOL": "boolean"}
# Columns only OCI's FOCUS report has: its header is recognized by these.
_FOCUS_MARKERS = {"oci_ReferenceNumber", "BilledCost", "ChargePeriodStart"}


def oci_to_snake(name: str) -> str:
    """``lineItem/intervalUsageStart`` -> ``line_item_interval_usage_start``; every capital starts a word."""
    prefix, _, suffix = name.partition("/")
    return f"{_snake(prefix)}_{_snake(suffix)}"


def _snake(word: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), word).lstrip("_")


def _table_sql(path: Path) -> str:
    name = path.name.lower()
    if not name.endswith((".csv", ".csv.gz", ".gz")):
        raise FailedPrecondition(
            f"{path}: not an OCI cost report (expected .csv or .csv.gz)", reason="NOT_AN_OCI_REPORT"
        )
    # all_varchar: each value is parsed with TRY_CAST below, so one bad value quarantines its row.
    return f"read_csv({_lit(str(path))}, all_varchar = true, header = true, delim = ',', quote = '\"')"


def _describe(con: duckdb.DuckDBPyConnection, path: Path, table_sql: str) -> list[str]:
    if path.stat().st_size == 0:
        raise FailedPrecondition(f"{path}: the file is empty")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {table_sql}").fetchall()
        first = con.execute(f"SELECT 1 FROM {table_sql} LIMIT 1").fetchall()
    except duckdb.Error as exc:
        raise FailedPrecondition(f"{path}: cannot be read as an OCI cost report: {exc}") from exc
    if not first:
        raise FailedPrecondition(f"{path}: the file has a header but no data rows")
    return [str(r[0]) for r in described]


def build_raw_select(
    con: duckdb.DuckDBPyConnection, path: Path, *, source_object: str, row_numbers: bool = True
) -> str:
    """Builds the one SELECT that turns an OCI cost report file into raw-table rows.

    Args:
        con: the connection the SELECT will run on (used here only to DESCRIBE the file).
        path: a local cost report (CSV or gzip CSV).
        source_object: the object name recorded on every row (``oci://namespace/bucket/name`` or a path).
        row_numbers: number the rows (``_source_row_number``; one ordered pass). Without it the column
            is NULL and DuckDB scans in parallel.

    Returns:
        A SELECT yielding the columns of ``cloud_oci_billing_raw_daily`` in schema order, then
        ``_quarantine_reason`` (NULL for good rows), ``_source_row_number`` and ``_record`` (the
        source row as JSON text, only for quarantined rows). Lineage comes from the connection's
        variables (see ``focus_svc.conversion.set_lineage``).

    Raises:
        FailedPrecondition: the file is empty, has no data rows, is an OCI FOCUS report, or is not
            an OCI cost report.
    """
    table_sql = _table_sql(path)
    names = _describe(con, path, table_sql)
    if set(names) >= _FOCUS_MARKERS:
        raise FailedPrecondition(
            f"{path}: an OCI FOCUS report; this pipeline reads the cost reports under reports/cost-csv/",
            reason="NOT_AN_OCI_REPORT",
        )
    sources = [_Source(name, "VARCHAR", f'"s#{i}"') for i, name in enumerate(names)]
    schema = load_schema(RAW_TABLE)
    raw_types = {c.name: c.type.upper() for c in schema.columns}
    by_raw: dict[str, _Source] = {}
    tags: list[tuple[str, _Source]] = []
    extra: list[tuple[str, _Source]] = []
    for src in sources:
        prefix, slash, suffix = src.name.partition("/")
        snake = oci_to_snake(src.name) if slash else ""
        if prefix == "tags" and slash and suffix:
            tags.append((suffix, src))
        elif snake in raw_types and snake not in _NOT_FROM_SOURCE and snake not in by_raw:
            by_raw[snake] = src
        else:
            extra.append((src.name, src))
    missing = [c for c in REQUIRED_COLUMNS if c not in by_raw]
    if missing:
        raise FailedPrecondition(
            f"{path}: not an OCI cost report, required columns missing: {', '.join(missing)}",
            reason="NOT_AN_OCI_REPORT",
        )

    parsed: list[str] = []
    checks: list[tuple[str, str]] = []

    def typed(column: Column) -> str:
        src = by_raw.get(column.name)
        kind = raw_types[column.name]
        if kind == "STRING":
            return "CAST(NULL AS VARCHAR)" if src is None else src.text
        duck_type = _DUCK_TYPES.get(kind, kind)
        if src is None:
            return f"CAST(NULL AS {duck_type})"
        alias = f'"t#{column.name}"'
        parsed.append(f"TRY_CAST({src.text} AS {duck_type}) AS {alias}")
        what = _WHAT.get(kind, "decimal")
        checks.append(
            (
                f"{src.text} IS NOT NULL AND {alias} IS NULL",
                f"{_lit(f'unparsable {what} in {src.name}: ')} || '''' || {src.alias} || ''''",
            )
        )
        return alias

    def folded(parts: list[tuple[str, _Source]]) -> str:
        if not parts:
            return "CAST(NULL AS MAP(VARCHAR, VARCHAR))"
        entries = ", ".join(f"{{'key': {_lit(key)}, 'value': {part.text}}}" for key, part in parts)
        # An empty cell means "tag not set on this resource": such entries are left out.
        return f"map_from_entries(list_filter([{entries}], lambda e: e.value IS NOT NULL))"

    outputs: dict[str, str] = {}
    for column in schema.columns:
        if column.name in _DERIVED or column.name in _LINEAGE or column.name in _MAP_COLUMNS:
            continue
        outputs[column.name] = typed(column)
    outputs["tags"] = folded(tags)
    outputs["extra_columns"] = folded(extra)
    start = outputs["line_item_interval_usage_start"]
    # billing_period: the UTC calendar month of the usage interval's start.
    outputs["billing_period"] = f"CAST(date_trunc('month', timezone('UTC', {start})) AS DATE)"
    outputs["source_format"] = _lit(SOURCE_FORMAT)
    outputs["source_object"] = _lit(source_object)
    outputs.update(pipeline_columns())

    for raw, what in _MISSING_CHECKS:
        checks.append((f"{outputs[raw]} IS NULL", _lit(f"missing {what} ({by_raw[raw].name})")))
    end = outputs["line_item_interval_usage_end"]
    checks.append((f"{end} < {start}", _lit("interval usage end is before its start")))
    reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r in checks) + " END"

    inner = ", ".join(f"{_ident(s.name)} AS {s.alias}" for s in sources)
    layer1 = f"SELECT {inner} FROM {table_sql}"
    layer2 = f"SELECT *{''.join(', ' + p for p in parsed)} FROM ({layer1})"
    numbered = "row_number() OVER ()" if row_numbers else "CAST(NULL AS BIGINT)"
    return finish_raw_select(
        layer2,
        outputs,
        schema.column_names,
        reason=reason,
        sources=[(s.name, s.alias, s.text) for s in sources],
        row_number=numbered,
        map_columns=_MAP_COLUMNS,
        passthrough="",
    )
