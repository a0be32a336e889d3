"""AWS export files (CUR 2.0 Parquet/CSV, legacy CUR CSV/Parquet) -> one DuckDB SELECT of raw-table rows.

The SELECT is built from the file's header (a DESCRIBE, no data read) and does all the work inside
DuckDB: typed parsing with TRY_CAST, legacy ``prefix/CamelName`` -> CUR 2.0 ``prefix_snake_name``,
``product/*``, ``resourceTags/*`` and ``costCategory/*`` folded into maps, unknown columns kept in
``extra_columns``, and a per-row ``_quarantine_reason`` instead of failing the file on one bad value.
Only the file's own columns are referenced, so DuckDB reads nothing it does not need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import LINEAGE_COLUMNS
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.schema import Column
from ingest_svc.connectors.fileerrors import read_error
from ingest_svc.connectors.sqltext import SourceColumn as _Source
from ingest_svc.connectors.sqltext import finish_raw_select, pipeline_columns
from ingest_svc.connectors.sqltext import sql_ident as _ident
from ingest_svc.connectors.sqltext import sql_literal as _lit

RAW_TABLE = "cloud_aws_billing_raw_daily"
EXTRA_COLUMNS = ("_quarantine_reason", "_source_row_number", "_record")

# A CUR export without these cannot become FOCUS rows (FOCUS Mandatory, non-null columns depend on them).
REQUIRED_COLUMNS = (
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_unblended_cost",
    "line_item_currency_code",
    "bill_payer_account_id",
    "bill_billing_period_start_date",
    "line_item_usage_account_id",
)
# Row-level checks, in order: the first that fails names the row's quarantine reason.
_MISSING_CHECKS = (
    ("bill_billing_period_start_date", "billing period start"),
    ("line_item_usage_start_date", "usage start date"),
    ("line_item_usage_end_date", "usage end date"),
    ("line_item_line_item_type", "line item type"),
    ("line_item_currency_code", "currency code"),
    ("bill_payer_account_id", "payer account id"),
)
# Maps of the raw schema and the legacy column prefix that feeds each one.
_LEGACY_MAP_PREFIX = {"product": "product", "resourceTags": "resource_tags", "costCategory": "cost_category"}
_MAP_COLUMNS = ("product", "resource_tags", "cost_category", "discount", "extra_columns")
# Filled here, not from a source column.
_DERIVED = {"billing_period", "source_format", "source_object", "ingestion_date"}
_LINEAGE = LINEAGE_COLUMNS
_NOT_FROM_SOURCE = {*_DERIVED, *_LINEAGE, "extra_columns"}


def legacy_to_snake(name: str) -> str:
    """``lineItem/UnblendedCost`` -> ``line_item_unblended_cost``; every capital starts a new word."""
    prefix, _, suffix = name.partition("/")
    return f"{_snake(prefix)}_{_snake(suffix)}"


def _snake(word: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), word).lstrip("_").replace(":", "_")


@dataclass(frozen=True)
class _Reader:
    """How to read the file: the table function and what format label the rows get."""

    table_sql: str
    row_number_sql: str
    is_parquet: bool


def _reader(path: Path, name: str) -> _Reader:
    name = path.name.lower()
    quoted = _lit(str(path))
    if name.endswith(".parquet"):
        return _Reader(f"read_parquet({quoted}, file_row_number = true)", '"_frn" + 1', True)
    if name.endswith((".csv", ".csv.gz", ".csv.zst", ".gz")):
        # all_varchar: every value is parsed below with TRY_CAST, so one bad value quarantines its
        # row instead of making DuckDB's type sniffer fail (or silently mis-type) the whole file.
        # Row numbers: the streaming window keeps file order (checked with 1 and 2 threads).
        table = f"read_csv({quoted}, all_varchar = true, header = true, delim = ',', quote = '\"')"
        return _Reader(table, "row_number() OVER ()", False)
    raise FailedPrecondition(f"{name}: not a CUR export file (expected .parquet, .csv or .csv.gz)")


def _describe(con: duckdb.DuckDBPyConnection, path: Path, reader: _Reader, name: str) -> list[tuple[str, str]]:
    if path.stat().st_size == 0:
        raise FailedPrecondition(f"{name}: the file is empty")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader.table_sql}").fetchall()
        first = con.execute(f"SELECT 1 FROM {reader.table_sql} LIMIT 1").fetchall()
    except duckdb.Error as exc:
        # Not chained: DuckDB's message names the local path.
        raise FailedPrecondition(f"{name}: cannot be read as a CUR export: {read_error(exc, path, name)}") from None
    columns = [(str(r[0]), str(r[1])) for r in described if r[0] != "file_row_number"]
    if not first:
        raise FailedPrecondition(f"{name}: the file has a header but no data rows")
    return columns


class _Builder:
    """Collects the expressions of the SELECT for one file."""

    def __init__(self, sources: list[_Source], *, legacy: bool) -> None:
        self.sources = sources
        self.legacy = legacy
        self.schema = load_schema(RAW_TABLE)
        self.raw_types = {c.name: c.type.upper() for c in self.schema.columns}
        self.by_raw: dict[str, _Source] = {}
        self.map_parts: dict[str, list[tuple[str, _Source]]] = {m: [] for m in _MAP_COLUMNS}
        self.parsed: list[str] = []  # "expr AS alias" evaluated in the middle layer
        self.checks: list[tuple[str, str]] = []  # (condition, reason expression)
        self._route()

    def _route(self) -> None:
        for src in self.sources:
            if self.legacy and "/" in src.name:
                self._route_legacy(src)
            elif src.name in self.raw_types and src.name not in _NOT_FROM_SOURCE:
                self.by_raw[src.name] = src
            else:
                self.map_parts["extra_columns"].append((src.name, src))
        # Older legacy exports name the region code product/region, without product/regionCode.
        region = next((s for s in self.sources if s.name == "product/region"), None)
        if self.legacy and region is not None and "product_region_code" not in self.by_raw:
            self.by_raw["product_region_code"] = region

    def lifted_product_name(self) -> str | None:
        """CUR 2.0 keeps the product name only in the product map: lift that one key out."""
        src = self.by_raw.get("product")
        if src is None or "product_product_name" in self.by_raw:
            return None
        if src.is_text:
            return (
                f"CASE WHEN json_valid(NULLIF({src.alias}, '')) "
                f"THEN json_extract_string({src.alias}, '$.product_name') END"
            )
        return f"CAST({src.alias}['product_name'] AS VARCHAR)"

    def _route_legacy(self, src: _Source) -> None:
        prefix, _, suffix = src.name.partition("/")
        target = _LEGACY_MAP_PREFIX.get(prefix)
        if target == "product":
            # Every product attribute goes into the map (CUR 2.0 keeps most of them only there), and
            # also into the static product_* column of the same name when the schema has one.
            self.map_parts["product"].append((_snake(suffix), src))
            static = "product_" + _snake(suffix)
            if static in self.raw_types and static not in self.by_raw:
                self.by_raw[static] = src
            return
        if target is not None:
            # Tag and cost-category keys stay as AWS wrote them ('user:Team'): FOCUS Tags keeps them.
            self.map_parts[target].append((suffix, src))
            return
        snake = legacy_to_snake(src.name)
        if prefix == "discount" and snake not in self.raw_types:
            self.map_parts["discount"].append((_snake(suffix), src))
        elif snake in self.raw_types and snake not in _MAP_COLUMNS and snake not in self.by_raw:
            self.by_raw[snake] = src
        else:
            self.map_parts["extra_columns"].append((src.name, src))

    # -- typed values ---------------------------------------------------------------------------
    def typed(self, column: Column) -> str:
        """The expression of one scalar raw column (parsed values come from the middle layer)."""
        src = self.by_raw.get(column.name)
        kind = self.raw_types[column.name]
        if kind == "STRING":
            return "CAST(NULL AS VARCHAR)" if src is None else src.text
        duck_type = _duck_type(kind)
        if src is None:
            return f"CAST(NULL AS {duck_type})"
        alias = f'"t#{column.name}"'
        if src.is_text:
            self.parsed.append(f"TRY_CAST(NULLIF({src.alias}, '') AS {duck_type}) AS {alias}")
            what = "timestamp" if kind == "TIMESTAMP" else "decimal"
            self.checks.append(
                (
                    f"NULLIF({src.alias}, '') IS NOT NULL AND {alias} IS NULL",
                    f"{_lit(f'unparsable {what} in {src.name}: ')} || '''' || {src.alias} || ''''",
                )
            )
        elif kind == "TIMESTAMP" and src.type.startswith("TIMESTAMP") and "TIME ZONE" not in src.type:
            # Parquet CUR timestamps are zone-less UTC instants.
            self.parsed.append(f"timezone('UTC', {src.alias}) AS {alias}")
        else:
            self.parsed.append(f"TRY_CAST({src.alias} AS {duck_type}) AS {alias}")
            self.checks.append(
                (
                    f"{src.alias} IS NOT NULL AND {alias} IS NULL",
                    f"{_lit(f'unconvertible value in {src.name}: ')} || '''' || {src.text} || ''''",
                )
            )
        return alias

    def map_expr(self, name: str) -> str:
        """A MAP column: a source map/JSON column (CUR 2.0) or entries folded from legacy columns."""
        value_type = "DECIMAL(38,12)" if name == "discount" else "VARCHAR"
        map_type = f"MAP(VARCHAR, {value_type})"
        src = self.by_raw.get(name)
        if src is not None:
            if src.is_text:
                # CUR 2.0 CSV delivers maps as JSON text.
                self.checks.append(
                    (
                        f"NULLIF({src.alias}, '') IS NOT NULL AND NOT coalesce(json_valid({src.alias}), false)",
                        f"{_lit(f'unparsable JSON map in {src.name}: ')} || '''' || {src.alias} || ''''",
                    )
                )
                return (
                    f"CASE WHEN json_valid(NULLIF({src.alias}, '')) "
                    f"THEN json_transform({src.alias}, '\"{map_type}\"') END"
                )
            return f"TRY_CAST({src.alias} AS {map_type})"
        parts = self.map_parts[name]
        if not parts:
            return f"CAST(NULL AS {map_type})"
        if name == "discount":
            entries = []
            for key, part in parts:
                value = f"TRY_CAST({part.text} AS DECIMAL(38,12))"
                self.checks.append(
                    (
                        f"{part.text} IS NOT NULL AND {value} IS NULL",
                        f"{_lit(f'unparsable decimal in {part.name}: ')} || '''' || {part.text} || ''''",
                    )
                )
                entries.append(f"{{'key': {_lit(key)}, 'value': {value}}}")
        else:
            entries = [f"{{'key': {_lit(key)}, 'value': {part.text}}}" for key, part in parts]
        # Entries without a value are left out: an empty CSV cell means "attribute not set".
        return f"map_from_entries(list_filter([{', '.join(entries)}], lambda e: e.value IS NOT NULL))"


def _duck_type(kind: str) -> str:
    if kind == "TIMESTAMP":
        return "TIMESTAMPTZ"
    return kind


def build_raw_select(
    con: duckdb.DuckDBPyConnection, path: Path, *, source_object: str, row_numbers: bool = True
) -> str:
    """Builds the one SELECT that turns an AWS export file into raw-table rows.

    Args:
        con: the connection the SELECT will run on (used here only to DESCRIBE the file).
        path: a local CUR 2.0 (Parquet, CSV, gzip CSV) or legacy CUR (CSV, gzip CSV) file.
        source_object: the object name recorded on every row (``s3://bucket/key`` or a path), and
            the name errors give the file (never the local ``path``, a server temp file).
        row_numbers: number the rows (``_source_row_number``). Numbering a CSV needs one ordered
            pass (a window over the scan), which keeps DuckDB on one thread; without it the
            column is NULL for CSV and the scan runs in parallel. Parquet rows are always numbered.

    Returns:
        A SELECT yielding the columns of ``cloud_aws_billing_raw_daily`` in schema order, then
        ``_quarantine_reason`` (NULL for good rows), ``_source_row_number`` and ``_record`` (the
        source row as JSON text, only for quarantined rows). Lineage comes from the connection's
        variables (see ``focus_svc.conversion.set_lineage``).

    Raises:
        FailedPrecondition: the file is empty, has no data rows, or is not a CUR export.
    """
    reader = _reader(path, source_object)
    described = _describe(con, path, reader, source_object)
    legacy = any("/" in name for name, _ in described)
    sources = [_Source(name, dtype, f'"s#{i}"') for i, (name, dtype) in enumerate(described)]
    builder = _Builder(sources, legacy=legacy)
    missing = [c for c in REQUIRED_COLUMNS if c not in builder.by_raw]
    if missing:
        raise FailedPrecondition(
            f"{source_object}: not a CUR export, required columns missing: {', '.join(missing)}",
            reason="NOT_A_CUR_EXPORT",
        )
    kind = ("cur_legacy_" if legacy else "cur2_") + ("parquet" if reader.is_parquet else "csv")

    outputs: dict[str, str] = {}
    schema = builder.schema
    for column in schema.columns:
        if column.name in _DERIVED or column.name in _LINEAGE:
            continue
        if column.name in _MAP_COLUMNS:
            outputs[column.name] = builder.map_expr(column.name)
        else:
            outputs[column.name] = builder.typed(column)
    if (product_name := builder.lifted_product_name()) is not None:
        outputs["product_product_name"] = product_name
    period = outputs["bill_billing_period_start_date"]
    # billing_period: the UTC month of the billing period start, whatever the session time zone.
    outputs["billing_period"] = f"CAST(date_trunc('month', timezone('UTC', {period})) AS DATE)"
    outputs["source_format"] = _lit(kind)
    outputs["source_object"] = _lit(source_object)
    outputs.update(pipeline_columns())

    checks = list(builder.checks)
    for raw, what in _MISSING_CHECKS:
        src = builder.by_raw.get(raw)
        label = f"{what} ({src.name})" if src else what
        checks.append((f"{outputs[raw]} IS NULL", _lit(f"missing {label}")))
    reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r in checks) + " END"

    inner = ", ".join(f"{_ident(s.name)} AS {s.alias}" for s in sources)
    passthrough = ', "_frn"' if reader.is_parquet else ""
    file_row = ', file_row_number AS "_frn"' if reader.is_parquet else ""
    layer1 = f"SELECT {inner}{file_row} FROM {reader.table_sql}"
    layer2 = f"SELECT *{''.join(', ' + p for p in builder.parsed)} FROM ({layer1})"
    numbered = reader.row_number_sql if row_numbers or reader.is_parquet else "CAST(NULL AS BIGINT)"
    return finish_raw_select(
        layer2,
        outputs,
        schema.column_names,
        reason=reason,
        sources=[(s.name, s.alias, s.text) for s in sources],
        row_number=numbered,
        map_columns=_MAP_COLUMNS,
        passthrough=passthrough,
    )
