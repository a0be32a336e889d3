"""OCI report files (CSV or gzip CSV) -> one DuckDB SELECT of raw-table rows.

Two report kinds land in ``cloud_oci_billing_raw_daily``, recognised by their header:

* the proprietary cost report (``reports/cost-csv``): ``prefix/camelName`` columns become
  ``prefix_camel_name`` raw columns, and the dynamic ``tags/<namespace>.<key>`` columns are folded
  into one ``tags`` map (keys ``<namespace>.<key>``; the set of tag columns varies between files);
* OCI's own FOCUS report (``FOCUS Reports/...``): FOCUS 1.0-preview names (Provider, Region,
  UsageQuantity, ...) or, should OCI move on, their FOCUS 1.0 successors (ProviderName, RegionId,
  ConsumedQuantity, ...) land in ``focus_*`` columns named after the 1.0 column, the ``oci_*``
  extensions (also accepted as ``x_oci_*``, the 1.0 custom-column spelling) in ``oci_*`` columns,
  and the Tags JSON object in ``tags``. The values are OCI's; the upgrade to FOCUS 1.3 happens in
  ``sql/mappings/oci.sql``.

``source_format`` tells the kinds apart. The SELECT is built from the file's header (a DESCRIBE,
no data read) and does all the work inside DuckDB: every value is read as text and parsed with
TRY_CAST, unknown columns are kept in ``extra_columns``, and an unparsable or missing key value
sets the row's ``_quarantine_reason`` instead of failing the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cloudact_providers.oci.credential import ReportKind
from cloudact_shared.errors import FailedPrecondition
from cloudact_shared.lineage import LINEAGE_COLUMNS
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.schema import Column
from ingest_svc.connectors.fileerrors import read_error
from ingest_svc.connectors.sqltext import SourceColumn as _Source
from ingest_svc.connectors.sqltext import finish_raw_select, pipeline_columns
from ingest_svc.connectors.sqltext import sql_ident as _ident
from ingest_svc.connectors.sqltext import sql_literal as _lit

RAW_TABLE = "cloud_oci_billing_raw_daily"
SOURCE_FORMAT = "oci_cost_csv"
FOCUS_SOURCE_FORMAT = "oci_focus_csv"

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
_COST_MISSING_CHECKS = (
    ("line_item_interval_usage_start", "interval usage start"),
    ("line_item_interval_usage_end", "interval usage end"),
    ("line_item_tenant_id", "tenancy id"),
    ("product_service", "service"),
    ("cost_my_cost", "cost"),
    ("cost_currency_code", "currency code"),
)
# FOCUS report raw column -> the header names that fill it, preferred first (matched ignoring case).
# The 1.0-preview names OCI writes, and their FOCUS 1.0 successors where 1.0 renamed a column.
_FOCUS_HEADERS: dict[str, tuple[str, ...]] = {
    "focus_availability_zone": ("AvailabilityZone",),
    "focus_billed_cost": ("BilledCost",),
    "focus_billing_account_id": ("BillingAccountId",),
    "focus_billing_account_name": ("BillingAccountName",),
    "focus_billing_currency": ("BillingCurrency",),
    "focus_billing_period_start": ("BillingPeriodStart",),
    "focus_billing_period_end": ("BillingPeriodEnd",),
    "focus_charge_category": ("ChargeCategory",),
    "focus_charge_class": ("ChargeClass",),
    "focus_charge_subcategory": ("ChargeSubcategory",),
    "focus_charge_description": ("ChargeDescription",),
    "focus_charge_frequency": ("ChargeFrequency",),
    "focus_charge_period_start": ("ChargePeriodStart",),
    "focus_charge_period_end": ("ChargePeriodEnd",),
    "focus_commitment_discount_category": ("CommitmentDiscountCategory",),
    "focus_commitment_discount_id": ("CommitmentDiscountId",),
    "focus_commitment_discount_name": ("CommitmentDiscountName",),
    "focus_commitment_discount_type": ("CommitmentDiscountType",),
    "focus_commitment_discount_status": ("CommitmentDiscountStatus",),
    "focus_consumed_quantity": ("UsageQuantity", "ConsumedQuantity"),
    "focus_consumed_unit": ("UsageUnit", "ConsumedUnit"),
    "focus_contracted_cost": ("ContractedCost",),
    "focus_contracted_unit_price": ("ContractedUnitPrice",),
    "focus_effective_cost": ("EffectiveCost",),
    "focus_invoice_id": ("InvoiceId",),
    "focus_invoice_issuer_name": ("InvoiceIssuer", "InvoiceIssuerName"),
    "focus_list_cost": ("ListCost",),
    "focus_list_unit_price": ("ListUnitPrice",),
    "focus_pricing_category": ("PricingCategory",),
    "focus_pricing_quantity": ("PricingQuantity",),
    "focus_pricing_unit": ("PricingUnit",),
    "focus_provider_name": ("Provider", "ProviderName"),
    "focus_publisher_name": ("Publisher", "PublisherName"),
    "focus_region_id": ("Region", "RegionId"),
    "focus_region_name": ("RegionName",),
    "focus_resource_id": ("ResourceId",),
    "focus_resource_name": ("ResourceName",),
    "focus_resource_type": ("ResourceType",),
    "focus_service_category": ("ServiceCategory",),
    "focus_service_subcategory": ("ServiceSubcategory",),
    "focus_service_name": ("ServiceName",),
    "focus_sku_id": ("SkuId",),
    "focus_sku_meter": ("SkuMeter",),
    "focus_sku_price_id": ("SkuPriceId",),
    "focus_sub_account_id": ("SubAccountId",),
    "focus_sub_account_name": ("SubAccountName",),
    **{
        f"oci_{_snake_name}": (f"oci_{_name}", f"x_oci_{_name}")
        for _name, _snake_name in (
            ("ReferenceNumber", "reference_number"),
            ("BackReferenceNumber", "back_reference_number"),
            ("CompartmentId", "compartment_id"),
            ("CompartmentName", "compartment_name"),
            ("OverageFlag", "overage_flag"),
            ("UnitPriceOverage", "unit_price_overage"),
            ("BilledQuantityOverage", "billed_quantity_overage"),
            ("CostOverage", "cost_overage"),
            ("AttributedUsage", "attributed_usage"),
            ("AttributedCost", "attributed_cost"),
        )
    },
}
_FOCUS_REQUIRED = (
    "oci_reference_number",
    "focus_billing_account_id",
    "focus_billed_cost",
    "focus_billing_currency",
    "focus_billing_period_start",
    "focus_charge_period_start",
    "focus_charge_period_end",
    "focus_charge_category",
    "focus_service_name",
)
_FOCUS_MISSING_CHECKS = (
    ("focus_charge_period_start", "charge period start"),
    ("focus_charge_period_end", "charge period end"),
    ("focus_billing_period_start", "billing period start"),
    ("focus_billing_account_id", "billing account id"),
    ("focus_service_name", "service name"),
    ("focus_charge_category", "charge category"),
    ("focus_billed_cost", "billed cost"),
    ("focus_billing_currency", "billing currency"),
)
_CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
# Headers that only OCI's FOCUS report has: a file holding all of them is one.
_FOCUS_MARKERS = ({"oci_referencenumber", "x_oci_referencenumber"}, {"billedcost"}, {"chargeperiodstart"})
_COST_START = "lineItem/intervalUsageStart"
_MAP_COLUMNS = ("tags", "extra_columns")
_DERIVED = {"billing_period", "source_format", "source_object", "ingestion_date"}
_NOT_FROM_SOURCE = {*_DERIVED, *LINEAGE_COLUMNS, *_MAP_COLUMNS}
_DUCK_TYPES = {"TIMESTAMP": "TIMESTAMPTZ", "BOOL": "BOOLEAN"}
_WHAT = {"TIMESTAMP": "timestamp", "BOOL": "boolean"}


def oci_to_snake(name: str) -> str:
    """``lineItem/intervalUsageStart`` -> ``line_item_interval_usage_start``; every capital starts a word."""
    prefix, _, suffix = name.partition("/")
    return f"{_snake(prefix)}_{_snake(suffix)}"


def _snake(word: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), word).lstrip("_")


def report_kind(header: Iterable[str]) -> ReportKind:
    """Which OCI report a file with this header is (OCI's FOCUS report, else the cost report)."""
    lowered = {name.lower() for name in header}
    return "focus" if all(lowered & marker for marker in _FOCUS_MARKERS) else "cost-csv"


def read_header(con: duckdb.DuckDBPyConnection, path: Path, name: str | None = None) -> list[str]:
    """The column names of a report file (no data read beyond its first row).

    Raises:
        FailedPrecondition: the file is not a CSV report, is empty, or has no data rows; the
            message names the file ``name`` (default: its path).
    """
    shown = str(path) if name is None else name
    return _describe(con, path, _table_sql(path, shown), shown)


def month_sql(header: list[str]) -> str:
    """A SQL expression over a report file's own columns: the UTC month its row belongs to.

    The same parse as the raw SELECT's ``billing_period``: text -> TIMESTAMPTZ -> UTC month, from
    ``lineItem/intervalUsageStart`` (cost report) or ``BillingPeriodStart`` (FOCUS report).
    """
    if report_kind(header) == "focus":
        column = _find(header, ("BillingPeriodStart",)) or "BillingPeriodStart"
    else:
        column = _COST_START
    return _month_of(f"TRY_CAST(NULLIF({_ident(column)}, '') AS TIMESTAMPTZ)")


def _month_of(timestamp: str) -> str:
    return f"CAST(date_trunc('month', timezone('UTC', {timestamp})) AS DATE)"


def _find(header: Iterable[str], candidates: tuple[str, ...]) -> str | None:
    by_lower: dict[str, str] = {}
    for name in header:
        by_lower.setdefault(name.lower(), name)
    return next((by_lower[c.lower()] for c in candidates if c.lower() in by_lower), None)


def _table_sql(path: Path, shown: str) -> str:
    if not path.name.lower().endswith((".csv", ".csv.gz", ".gz")):
        raise FailedPrecondition(
            f"{shown}: not an OCI cost or FOCUS report (expected .csv or .csv.gz)", reason="NOT_AN_OCI_REPORT"
        )
    # all_varchar: each value is parsed with TRY_CAST below, so one bad value quarantines its row.
    return f"read_csv({_lit(str(path))}, all_varchar = true, header = true, delim = ',', quote = '\"')"


def _describe(con: duckdb.DuckDBPyConnection, path: Path, table_sql: str, shown: str) -> list[str]:
    if path.stat().st_size == 0:
        raise FailedPrecondition(f"{shown}: the file is empty")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {table_sql}").fetchall()
        first = con.execute(f"SELECT 1 FROM {table_sql} LIMIT 1").fetchall()
    except duckdb.Error as exc:
        # Not chained: DuckDB's message names the local path.
        raise FailedPrecondition(f"{shown}: cannot be read as an OCI report: {read_error(exc, path, shown)}") from None
    if not first:
        raise FailedPrecondition(f"{shown}: the file has a header but no data rows")
    return [str(r[0]) for r in described]


@dataclass
class _Assigned:
    """Which file column fills which raw column; the tag columns and the unknown ones."""

    by_raw: dict[str, _Source] = field(default_factory=dict)
    tags: list[tuple[str, _Source]] = field(default_factory=list)
    extra: list[tuple[str, _Source]] = field(default_factory=list)


def _assign_cost(sources: list[_Source], raw_types: Mapping[str, str]) -> _Assigned:
    assigned = _Assigned()
    for src in sources:
        prefix, slash, suffix = src.name.partition("/")
        snake = oci_to_snake(src.name) if slash else ""
        if prefix == "tags" and slash and suffix:
            assigned.tags.append((suffix, src))
        elif snake in raw_types and snake not in _NOT_FROM_SOURCE and snake not in assigned.by_raw:
            assigned.by_raw[snake] = src
        else:
            assigned.extra.append((src.name, src))
    return assigned


def _assign_focus(sources: list[_Source]) -> _Assigned:
    assigned = _Assigned()
    by_name = {s.name: s for s in sources}
    used: set[str] = set()
    for raw, headers in _FOCUS_HEADERS.items():
        found = _find(by_name, headers)
        if found is not None:
            assigned.by_raw[raw] = by_name[found]
            used.add(found)
    tags = _find(by_name, ("Tags",))
    if tags is not None:
        used.add(tags)
    assigned.extra = [(s.name, s) for s in sources if s.name not in used]
    return assigned


class _Typed:
    """Raw column -> its typed expression; collects the TRY_CASTs and their quarantine checks."""

    def __init__(self, assigned: _Assigned, raw_types: Mapping[str, str]) -> None:
        self._assigned = assigned
        self._raw_types = raw_types
        self.parsed: list[str] = []
        self.checks: list[tuple[str, str]] = []

    def __call__(self, column: Column) -> str:
        src = self._assigned.by_raw.get(column.name)
        kind = self._raw_types[column.name]
        if kind == "STRING":
            return "CAST(NULL AS VARCHAR)" if src is None else src.text
        duck_type = _DUCK_TYPES.get(kind, kind)
        if src is None:
            return f"CAST(NULL AS {duck_type})"
        alias = f'"t#{column.name}"'
        self.parsed.append(f"TRY_CAST({src.text} AS {duck_type}) AS {alias}")
        what = _WHAT.get(kind, "decimal")
        self.checks.append(
            (
                f"{src.text} IS NOT NULL AND {alias} IS NULL",
                f"{_lit(f'unparsable {what} in {src.name}: ')} || '''' || {src.alias} || ''''",
            )
        )
        return alias


def _folded(parts: list[tuple[str, _Source]]) -> str:
    if not parts:
        return "CAST(NULL AS MAP(VARCHAR, VARCHAR))"
    entries = ", ".join(f"{{'key': {_lit(key)}, 'value': {part.text}}}" for key, part in parts)
    # An empty cell means "tag not set on this resource": such entries are left out.
    return f"map_from_entries(list_filter([{entries}], lambda e: e.value IS NOT NULL))"


def _json_tags(src: _Source | None) -> tuple[str, tuple[str, str] | None]:
    """The FOCUS Tags JSON object as a map (nested values as JSON text), and its quarantine check."""
    if src is None:
        return "CAST(NULL AS MAP(VARCHAR, VARCHAR))", None
    # CASE, not AND: DuckDB evaluates both sides of an AND, and json_type fails on invalid JSON.
    is_object = f"(CASE WHEN json_valid({src.text}) THEN json_type({src.text}) = 'OBJECT' ELSE false END)"
    value = f"""CASE WHEN {is_object} THEN json_transform({src.text}, '"MAP(VARCHAR, VARCHAR)"') END"""
    check = (
        f"{src.text} IS NOT NULL AND NOT {is_object}",
        f"{_lit(f'{src.name} is not a JSON object: ')} || '''' || {src.alias} || ''''",
    )
    return value, check


def build_raw_select(
    con: duckdb.DuckDBPyConnection, path: Path, *, source_object: str, row_numbers: bool = True
) -> str:
    """Builds the one SELECT that turns an OCI cost report or FOCUS report file into raw-table rows.

    Args:
        con: the connection the SELECT will run on (used here only to DESCRIBE the file).
        path: a local report (CSV or gzip CSV).
        source_object: the object name recorded on every row (``oci://namespace/bucket/name`` or a path),
            and the name errors give the file (never the local ``path``, a server temp file).
        row_numbers: number the rows (``_source_row_number``; one ordered pass). Without it the column
            is NULL and DuckDB scans in parallel.

    Returns:
        A SELECT yielding the columns of ``cloud_oci_billing_raw_daily`` in schema order, then
        ``_quarantine_reason`` (NULL for good rows), ``_source_row_number`` and ``_record`` (the
        source row as JSON text, only for quarantined rows). Lineage comes from the connection's
        variables (see ``focus_svc.conversion.set_lineage``).

    Raises:
        FailedPrecondition: the file is empty, has no data rows, or is neither an OCI cost report
            nor an OCI FOCUS report.
    """
    table_sql = _table_sql(path, source_object)
    names = _describe(con, path, table_sql, source_object)
    sources = [_Source(name, "VARCHAR", f'"s#{i}"') for i, name in enumerate(names)]
    schema = load_schema(RAW_TABLE)
    raw_types = {c.name: c.type.upper() for c in schema.columns}
    focus = report_kind(names) == "focus"
    assigned = _assign_focus(sources) if focus else _assign_cost(sources, raw_types)
    required = _FOCUS_REQUIRED if focus else REQUIRED_COLUMNS
    missing = [c for c in required if c not in assigned.by_raw]
    if missing:
        what = "an OCI FOCUS report" if focus else "an OCI cost report"
        raise FailedPrecondition(
            f"{source_object}: not {what}, required columns missing: {', '.join(missing)}",
            reason="NOT_AN_OCI_REPORT",
        )

    typed = _Typed(assigned, raw_types)
    outputs = {c.name: typed(c) for c in schema.columns if c.name not in _NOT_FROM_SOURCE}
    if focus:
        outputs["tags"], tags_check = _json_tags(_find_source(sources, "Tags"))
        if tags_check is not None:
            typed.checks.append(tags_check)
        start, end = outputs["focus_charge_period_start"], outputs["focus_charge_period_end"]
        period_start = outputs["focus_billing_period_start"]
        outputs["billing_period"] = _month_of(period_start)
        outputs["source_format"] = _lit(FOCUS_SOURCE_FORMAT)
        checks = _focus_row_checks(outputs, assigned)
    else:
        outputs["tags"] = _folded(assigned.tags)
        start, end = outputs["line_item_interval_usage_start"], outputs["line_item_interval_usage_end"]
        # billing_period: the UTC calendar month of the usage interval's start.
        outputs["billing_period"] = _month_of(start)
        outputs["source_format"] = _lit(SOURCE_FORMAT)
        checks = _missing_checks(outputs, assigned, _COST_MISSING_CHECKS)
    outputs["extra_columns"] = _folded(assigned.extra)
    outputs["source_object"] = _lit(source_object)
    outputs.update(pipeline_columns())
    checks.append(
        (
            f"{end} < {start}",
            _lit("charge period end is before its start" if focus else "interval usage end is before its start"),
        )
    )
    all_checks = typed.checks + checks
    reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r in all_checks) + " END"

    inner = ", ".join(f"{_ident(s.name)} AS {s.alias}" for s in sources)
    layer1 = f"SELECT {inner} FROM {table_sql}"
    layer2 = f"SELECT *{''.join(', ' + p for p in typed.parsed)} FROM ({layer1})"
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


def _find_source(sources: list[_Source], name: str) -> _Source | None:
    by_name = {s.name: s for s in sources}
    found = _find(by_name, (name,))
    return None if found is None else by_name[found]


def _missing_checks(
    outputs: Mapping[str, str], assigned: _Assigned, wanted: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    return [(f"{outputs[raw]} IS NULL", _lit(f"missing {what} ({assigned.by_raw[raw].name})")) for raw, what in wanted]


def _focus_row_checks(outputs: Mapping[str, str], assigned: _Assigned) -> list[tuple[str, str]]:
    """A FOCUS report row's own checks: what 1.3 needs and OCI must have given."""
    checks = _missing_checks(outputs, assigned, _FOCUS_MISSING_CHECKS)
    category = outputs["focus_charge_category"]
    allowed = ", ".join(_lit(c) for c in _CHARGE_CATEGORIES)
    checks.append(
        (f"{category} NOT IN ({allowed})", f"'ChargeCategory is not a FOCUS category: ''' || {category} || ''''")
    )
    # The billing period is the slice key (a calendar month); a period starting mid-month would put
    # the row in a month the run does not own.
    period = f"timezone('UTC', {outputs['focus_billing_period_start']})"
    checks.append(
        (
            f"{period} <> date_trunc('month', {period})",
            f"'BillingPeriodStart is not the start of a calendar month: ' || strftime({period}, '%Y-%m-%dT%H:%M:%SZ')",
        )
    )
    return checks
