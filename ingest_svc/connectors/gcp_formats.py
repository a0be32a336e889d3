"""GCP Cloud Billing export files (BigQuery EXTRACT as Parquet / JSONL, or flattened CSV) -> one DuckDB SELECT.

Every leaf of the (detailed) export is addressed by its dotted BigQuery path (``service.id``,
``location.region``). A Parquet or newline-delimited JSON file keeps the nested records: a leaf is read
from its top-level STRUCT column (``service`` -> ``$.id``). A flattened CSV (koku's samples) has one
column per dotted path. Repeated records (``labels``, ``system_labels``, ``project.labels``, ``tags``,
``credits``, ``project.ancestors``) arrive as LISTs (Parquet/JSON) or as JSON or Python-repr text (CSV);
they are normalized to ``MAP<STRING,STRING>`` (key/value labels) or to JSON arrays of a fixed shape
(credits, tags, ancestors). Unknown top-level columns are kept in ``extra_columns``. As for AWS, one bad
value quarantines its row (``_quarantine_reason``) instead of failing the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import LINEAGE_COLUMNS
from cloudact_shared.storage import load_schema
from ingest_svc.connectors.fileerrors import read_error
from ingest_svc.connectors.sqltext import SourceColumn as _Source
from ingest_svc.connectors.sqltext import finish_raw_select, pipeline_columns
from ingest_svc.connectors.sqltext import sql_ident as _ident
from ingest_svc.connectors.sqltext import sql_literal as _lit

RAW_TABLE = "cloud_gcp_billing_raw_daily"

# raw column -> dotted export path (the raw column name is the path with '.' -> '_').
_PATHS: dict[str, str] = {
    "billing_account_id": "billing_account_id",
    "invoice_month": "invoice.month",
    "invoice_publisher_type": "invoice.publisher_type",
    "cost_type": "cost_type",
    "service_id": "service.id",
    "service_description": "service.description",
    "sku_id": "sku.id",
    "sku_description": "sku.description",
    "usage_start_time": "usage_start_time",
    "usage_end_time": "usage_end_time",
    "project_id": "project.id",
    "project_number": "project.number",
    "project_name": "project.name",
    "project_labels": "project.labels",
    "project_ancestry_numbers": "project.ancestry_numbers",
    "project_ancestors": "project.ancestors",
    "labels": "labels",
    "system_labels": "system_labels",
    "tags": "tags",
    "location_location": "location.location",
    "location_country": "location.country",
    "location_region": "location.region",
    "location_zone": "location.zone",
    "cost": "cost",
    "currency": "currency",
    "currency_conversion_rate": "currency_conversion_rate",
    "cost_at_list": "cost_at_list",
    "usage_amount": "usage.amount",
    "usage_unit": "usage.unit",
    "usage_amount_in_pricing_units": "usage.amount_in_pricing_units",
    "usage_pricing_unit": "usage.pricing_unit",
    "credits": "credits",
    "adjustment_info_id": "adjustment_info.id",
    "adjustment_info_description": "adjustment_info.description",
    "adjustment_info_mode": "adjustment_info.mode",
    "adjustment_info_type": "adjustment_info.type",
    "export_time": "export_time",
    "price_effective_price": "price.effective_price",
    "price_tier_start_amount": "price.tier_start_amount",
    "price_unit": "price.unit",
    "price_pricing_unit_quantity": "price.pricing_unit_quantity",
    "resource_name": "resource.name",
    "resource_global_name": "resource.global_name",
    "subscription_instance_id": "subscription.instance_id",
    "transaction_type": "transaction_type",
    "seller_name": "seller_name",
    "consumption_model_id": "consumption_model.id",
    "consumption_model_description": "consumption_model.description",
}
# A file without these is not a GCP billing export (FOCUS Mandatory non-null columns depend on them).
REQUIRED_PATHS = (
    "billing_account_id",
    "invoice.month",
    "cost",
    "currency",
    "usage_start_time",
    "usage_end_time",
    "service.description",
)
_MISSING_CHECKS = (
    ("invoice_month", "invoice month"),
    ("usage_start_time", "usage start time"),
    ("usage_end_time", "usage end time"),
    ("cost", "cost"),
    ("currency", "currency"),
    ("billing_account_id", "billing account id"),
    ("service_description", "service description"),
)
# Repeated key/value records -> MAP<STRING,STRING>; other repeated records -> JSON arrays of this shape.
_LABEL_ARRAYS = ("labels", "system_labels", "project_labels")
_JSON_SHAPES = {
    "credits": '[{"name":"VARCHAR","amount":"DECIMAL(38,12)","full_name":"VARCHAR","id":"VARCHAR","type":"VARCHAR"}]',
    "tags": '[{"key":"VARCHAR","value":"VARCHAR","inherited":"BOOLEAN","namespace":"VARCHAR"}]',
    "project_ancestors": '[{"resource_name":"VARCHAR","display_name":"VARCHAR"}]',
}
_DERIVED = {"billing_period", "source_format", "source_object", "ingestion_date", "extra_columns"}
_LINEAGE = LINEAGE_COLUMNS


@dataclass(frozen=True)
class _Leaf:
    """Where one dotted path is found: a whole column, or a field inside a STRUCT/JSON column."""

    source: _Source
    field: str | None

    @property
    def name(self) -> str:
        return self.source.name + ("." + self.field if self.field else "")

    @property
    def text(self) -> str:
        """The value as text (nested values as JSON text)."""
        if self.field is None:
            return self.source.text
        obj = f"to_json({self.source.alias})"
        path = _lit("$." + self.field)
        # Scalars come out unquoted; records and lists as their JSON text.
        return (
            f"CASE WHEN json_type({obj}, {path}) IN ('OBJECT', 'ARRAY') "
            f"THEN CAST(json_extract({obj}, {path}) AS VARCHAR) ELSE json_extract_string({obj}, {path}) END"
        )

    @property
    def typed_column(self) -> bool:
        """A top-level, non-text, non-nested column (Parquet / JSON typed scalars)."""
        return self.field is None and not self.source.is_text and not self.source.is_nested


def _reader(path: Path, shown: str) -> tuple[str, str, str]:
    """(table SQL, row number SQL, format label)."""
    name = path.name.lower()
    quoted = _lit(str(path))
    if name.endswith(".parquet"):
        return f"read_parquet({quoted}, file_row_number = true)", '"_frn" + 1', "parquet"
    if name.endswith((".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")):
        table = f"read_json({quoted}, format = 'newline_delimited', records = true, union_by_name = true)"
        return table, "row_number() OVER ()", "jsonl"
    if name.endswith((".csv", ".csv.gz")):
        table = f"read_csv({quoted}, all_varchar = true, header = true, delim = ',', quote = '\"')"
        return table, "row_number() OVER ()", "csv"
    raise FailedPrecondition(f"{shown}: not a GCP billing export file (expected .parquet, .jsonl/.json or .csv)")


def _describe(con: duckdb.DuckDBPyConnection, path: Path, table: str, shown: str) -> list[tuple[str, str]]:
    if path.stat().st_size == 0:
        raise FailedPrecondition(f"{shown}: the file is empty")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
        first = con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
    except duckdb.Error as exc:
        # Not chained: DuckDB's message names the local path.
        reason = read_error(exc, path, shown)
        raise FailedPrecondition(f"{shown}: cannot be read as a GCP billing export: {reason}") from None
    if not first:
        raise FailedPrecondition(f"{shown}: the file has a header but no data rows")
    return [(str(r[0]), str(r[1])) for r in described if r[0] != "file_row_number"]


def _has_field(struct_type: str, field: str) -> bool:
    """Whether a DuckDB STRUCT type string declares ``field`` at its top level (JSON: maybe)."""
    if struct_type == "JSON":
        return True
    if not struct_type.startswith("STRUCT("):
        return False
    depth, token, fields = 0, "", []
    for char in struct_type[len("STRUCT(") : -1]:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            fields.append(token.strip())
            token = ""
        else:
            token += char
    fields.append(token.strip())
    names = {re.split(r"\s", f, maxsplit=1)[0].strip('"') for f in fields if f}
    return field in names


def _resolve(sources: list[_Source]) -> tuple[dict[str, _Leaf], list[_Source]]:
    """raw column -> its leaf, and the top-level columns no raw column reads (-> extra_columns)."""
    by_name = {s.name: s for s in sources}
    leaves: dict[str, _Leaf] = {}
    used: set[str] = set()
    for raw, dotted in _PATHS.items():
        if dotted in by_name:  # a flattened CSV column or a top-level column
            leaves[raw] = _Leaf(by_name[dotted], None)
            used.add(dotted)
            continue
        top, _, rest = dotted.partition(".")
        parent = by_name.get(top)
        if rest and parent is not None and not parent.is_text and _has_field(parent.type, rest):
            leaves[raw] = _Leaf(parent, rest)
            used.add(top)
    extra = [s for s in sources if s.name not in used and s.name.partition(".")[0] not in used]
    return leaves, extra


_PY_REPR_FIXES = (
    (r"Decimal\('([^']*)'\)", r"\1"),
    ("'", '"'),
    (r"\bNone\b", "null"),
    (r"\bTrue\b", "true"),
    (r"\bFalse\b", "false"),
)


def _json_array_text(leaf: _Leaf) -> str:
    """JSON text of a repeated record: as-is when valid JSON, else a Python repr rewritten to JSON.

    The rewrite is textual (quotes, None/True/False, Decimal('x')); a repr value that itself contains
    a quote cannot be rewritten and quarantines its row.
    """
    text = leaf.text
    if leaf.source.is_nested:
        return text
    fixed = text
    for pattern, repl in _PY_REPR_FIXES:
        fixed = f"regexp_replace({fixed}, {_lit(pattern)}, {_lit(repl)}, 'g')"
    return f"CASE WHEN json_valid({text}) THEN {text} ELSE {fixed} END"


class _Builder:
    def __init__(self, leaves: dict[str, _Leaf]) -> None:
        self.leaves = leaves
        self.schema = load_schema(RAW_TABLE)
        self.raw_types = {c.name: c.type.upper() for c in self.schema.columns}
        self.parsed: list[str] = []
        self.checks: list[tuple[str, str]] = []

    def scalar(self, raw: str) -> str:
        leaf = self.leaves.get(raw)
        kind = self.raw_types[raw]
        duck_type = "TIMESTAMPTZ" if kind == "TIMESTAMP" else kind
        if leaf is None:
            return f"CAST(NULL AS {'VARCHAR' if kind == 'STRING' else duck_type})"
        if kind == "STRING":
            return leaf.text
        alias = f'"t#{raw}"'
        zoneless = leaf.source.type.startswith("TIMESTAMP") and "TIME ZONE" not in leaf.source.type
        if leaf.typed_column and kind == "TIMESTAMP" and zoneless:
            # Zone-less Parquet timestamps are UTC instants (BigQuery TIMESTAMP).
            self.parsed.append(f"timezone('UTC', {leaf.source.alias}) AS {alias}")
            return alias
        source = leaf.source.alias if leaf.typed_column else leaf.text
        self.parsed.append(f"TRY_CAST({source} AS {duck_type}) AS {alias}")
        what = "timestamp" if kind == "TIMESTAMP" else "decimal"
        self.checks.append(
            (
                f"{leaf.text} IS NOT NULL AND {alias} IS NULL",
                f"{_lit(f'unparsable {what} in {leaf.name}: ')} || '''' || {leaf.text} || ''''",
            )
        )
        return alias

    def array(self, raw: str) -> str:
        leaf = self.leaves.get(raw)
        if raw in _LABEL_ARRAYS:
            if leaf is None:
                return "CAST(NULL AS MAP(VARCHAR, VARCHAR))"
            shape = '[{"key":"VARCHAR","value":"VARCHAR"}]'
        else:
            if leaf is None:
                return "CAST(NULL AS VARCHAR)"
            shape = _JSON_SHAPES[raw]
        text_alias, list_alias = f'"j#{raw}"', f'"l#{raw}"'
        self.parsed.append(f"{_json_array_text(leaf)} AS {text_alias}")
        self.parsed.append(
            f"CASE WHEN json_valid({text_alias}) AND json_type({text_alias}) = 'ARRAY' "
            f"THEN json_transform({text_alias}, {_lit(shape)}) END AS {list_alias}"
        )
        self.checks.append(
            (
                f"{text_alias} IS NOT NULL AND {list_alias} IS NULL",
                f"{_lit(f'unparsable array in {leaf.name}: ')} || '''' || {leaf.text} || ''''",
            )
        )
        if raw == "credits":
            # A credit without a readable amount cannot be netted: quarantine instead of dropping it.
            self.checks.append(
                (
                    f"len(list_filter({list_alias}, lambda c: c.amount IS NULL)) > 0",
                    f"{_lit(f'unparsable credit amount in {leaf.name}: ')} || '''' || {leaf.text} || ''''",
                )
            )
        if raw in _LABEL_ARRAYS:
            # Keys are unique per resource; a repeated key keeps its last value (a MAP cannot repeat keys).
            return (
                f"map_from_entries(list_transform(list_distinct(list_transform({list_alias}, lambda e: e.key)), "
                f"lambda k: {{'key': k, 'value': list_filter({list_alias}, lambda e: e.key = k)[-1].value}}))"
            )
        return f"CASE WHEN len({list_alias}) > 0 THEN CAST(to_json({list_alias}) AS VARCHAR) END"


def build_raw_select(
    con: duckdb.DuckDBPyConnection, path: Path, *, source_object: str, row_numbers: bool = True
) -> str:
    """Builds the one SELECT that turns a GCP billing export file into raw-table rows.

    Args:
        con: the connection the SELECT will run on (used here only to DESCRIBE the file).
        path: a local detailed or standard export: Parquet or newline-delimited JSON with nested
            records, or a flattened CSV with dotted column names.
        source_object: the object name recorded on every row, and the name errors give the file
            (never the local ``path``, a server temp file).
        row_numbers: number CSV/JSON rows (one ordered pass); Parquet rows are always numbered.

    Returns:
        A SELECT yielding the columns of ``cloud_gcp_billing_raw_daily`` in schema order, then
        ``_quarantine_reason``, ``_source_row_number`` and ``_record``.

    Raises:
        FailedPrecondition: the file is empty, has no rows, or is not a GCP billing export.
    """
    table, row_number_sql, fmt = _reader(path, source_object)
    described = _describe(con, path, table, source_object)
    sources = [_Source(name, dtype, f'"s#{i}"') for i, (name, dtype) in enumerate(described)]
    leaves, extra = _resolve(sources)
    found = {leaf_path for raw, leaf_path in _PATHS.items() if raw in leaves}
    missing = [p for p in REQUIRED_PATHS if p not in found]
    if missing:
        raise FailedPrecondition(
            f"{source_object}: not a GCP billing export, required columns missing: {', '.join(missing)}",
            reason="NOT_A_GCP_BILLING_EXPORT",
        )
    builder = _Builder(leaves)
    outputs: dict[str, str] = {}
    for column in builder.schema.columns:
        name = column.name
        if name in _DERIVED or name in _LINEAGE:
            continue
        outputs[name] = builder.array(name) if name in _LABEL_ARRAYS or name in _JSON_SHAPES else builder.scalar(name)

    month = outputs["invoice_month"]
    period_alias = '"t#billing_period"'
    builder.parsed.append(f"CAST(try_strptime({month}, '%Y%m') AS DATE) AS {period_alias}")
    builder.checks.append(
        (
            f"{month} IS NOT NULL AND ({period_alias} IS NULL OR NOT regexp_full_match({month}, '[0-9]{{6}}'))",
            f"'unparsable invoice month: ''' || {month} || ''''",
        )
    )
    outputs["billing_period"] = period_alias
    outputs["source_format"] = _lit(f"gcp_billing_{fmt}")
    outputs["source_object"] = _lit(source_object)
    if extra:
        entries = ", ".join(f"{{'key': {_lit(s.name)}, 'value': {s.text}}}" for s in extra)
        outputs["extra_columns"] = f"map_from_entries(list_filter([{entries}], lambda e: e.value IS NOT NULL))"
    else:
        outputs["extra_columns"] = "CAST(NULL AS MAP(VARCHAR, VARCHAR))"
    outputs.update(pipeline_columns())

    checks = list(builder.checks)
    for raw, what in _MISSING_CHECKS:
        leaf = leaves.get(raw)
        label = f"{what} ({leaf.name})" if leaf else what
        checks.append((f"{outputs[raw]} IS NULL", _lit(f"missing {label}")))
    reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r in checks) + " END"

    is_parquet = fmt == "parquet"
    inner = ", ".join(f"{_ident(s.name)} AS {s.alias}" for s in sources)
    file_row = ', file_row_number AS "_frn"' if is_parquet else ""
    passthrough = ', "_frn"' if is_parquet else ""
    layer1 = f"SELECT {inner}{file_row} FROM {table}"
    layer2 = f"SELECT *{''.join(', ' + p for p in builder.parsed)} FROM ({layer1})"
    numbered = row_number_sql if row_numbers or is_parquet else "CAST(NULL AS BIGINT)"
    return finish_raw_select(
        layer2,
        outputs,
        builder.schema.column_names,
        reason=reason,
        sources=[(s.name, s.alias, s.text) for s in sources],
        row_number=numbered,
        map_columns={*_LABEL_ARRAYS, "extra_columns"},
        passthrough=passthrough,
    )
