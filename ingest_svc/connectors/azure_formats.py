"""Azure Cost Management export files -> one DuckDB SELECT of raw-table rows.

Two kinds of export, told apart by their columns: cost details (ActualCost / AmortizedCost, EA and
MCA) and Microsoft's FOCUS export (FocusCost, dataset versions 1.0, 1.0r2 and 1.2-preview).

The SELECT is built from the file's header (a DESCRIBE) and does the work inside DuckDB:
- headers are matched case-insensitively and without separators (``CostInBillingCurrency``,
  ``costInBillingCurrency``, ``cost_in_billing_currency`` are one column), with aliases for the
  older EA names (``Cost``, ``BillingCurrency``, ``Product``, ``InvoiceSection`` ...);
- dates are US ``MM/DD/YYYY`` (cost details CSV) or ISO; decimals may use exponents (``5.6E-05``);
- ``Tags`` (JSON, EA CSVs without the outer braces) becomes a MAP; ``AdditionalInfo`` stays JSON text;
- unknown columns are kept in ``extra_columns``; one bad value quarantines its row, not the file.

The ``dataset`` column (actual | amortized | focus) comes from the export manifest's type, which the
connector appends to the object URI as ``#dataset=<actual|amortized|focus>``; a file whose columns
are FOCUS's (BilledCost, EffectiveCost, ChargePeriodStart ...) is FocusCost whatever its name.
Cost details without a manifest: from the file name, else from the rows (Unused* charge types exist
only in amortized data; commitment purchases only in actual data).

FocusCost rows fill the raw table's FOCUS columns (``billed_cost``, ``charge_period_start`` ...);
Microsoft's ``x_`` columns that restate a cost-details column land in it (``x_SkuMeterName`` ->
``meter_name``, ``x_ResourceGroupName`` -> ``resource_group`` ...), the rest in ``extra_columns``.
The versions differ only in columns (1.2-preview adds InvoiceId, PricingCurrency, SkuMeter ... in
place of x_InvoiceId, x_PricingCurrency, x_SkuMeterName) and date format (1.0 writes
``2024-01-01T00:00Z``, 1.0r2 ``2024-01-01T00:00:00Z``); sql/mappings/azure.sql upgrades them to 1.3.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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

RAW_TABLE = "cloud_azure_billing_raw_daily"
DATASETS = ("actual", "amortized", "focus")
DATASET_FRAGMENT = "#dataset="

# Older or alternative header names (normalized: lower case, no separators) -> raw column.
_ALIASES = {
    "cost": "cost_in_billing_currency",
    "pretaxcost": "cost_in_billing_currency",
    "billingcurrency": "billing_currency",
    "billingcurrencycode": "billing_currency",
    "currency": "billing_currency",
    "product": "product_name",
    "invoicesection": "invoice_section_name",
    "usagedatetime": "date",
    "usagedate": "date",
    "instanceid": "resource_id",
    "instancename": "resource_id",
    "resourcegroupname": "resource_group",
    "subscriptionguid": "subscription_id",
    "customertenantname": "customer_name",
    "metersubcategory": "meter_sub_category",
    "unitofmeasure": "unit_of_measure",
    "serviceinfo1": "service_info1",
    "serviceinfo2": "service_info2",
    "paygcostinbillingcurrency": "payg_cost_in_billing_currency",
}
# A file without these cannot become FOCUS rows.
_REQUIRED = ("date", "billing_period_start_date", "cost_in_billing_currency", "billing_currency", "subscription_id")
# Row-level "missing value" checks, after the parse checks: the first failing names the reason.
_MISSING_CHECKS = (
    ("billing_period_start_date", "billing period start"),
    ("date", "usage date"),
    ("cost_in_billing_currency", "cost"),
    ("billing_currency", "billing currency"),
)
# FocusCost: Microsoft's x_ columns that restate a cost-details column (normalized name -> raw column).
_FOCUS_ALIASES = {
    "xinvoiceid": "invoice_id",
    "xpricingcurrency": "pricing_currency",
    "xskumetername": "meter_name",
    "xskumetercategory": "meter_category",
    "xskumetersubcategory": "meter_sub_category",
    "xskumeterid": "meter_id",
    "xskuregion": "meter_region",
    "xskuservicefamily": "service_family",
    "xskupartnumber": "part_number",
    "xskuofferid": "offer_id",
    "xskuorderid": "product_order_id",
    "xskuordername": "product_order_name",
    "xskuplanname": "plan_name",
    "xskuterm": "term",
    "xskuiscrediteligible": "is_azure_credit_eligible",
    "xskudetails": "additional_info",
    "xresourcegroupname": "resource_group",
    "xaccountname": "account_name",
    "xaccountownerid": "account_owner_id",
    "xinvoicesectionid": "invoice_section_id",
    "xinvoicesectionname": "invoice_section_name",
    "xcostcenter": "cost_center",
    "xcostallocationrulename": "cost_allocation_rule_name",
    "xbillingprofileid": "billing_profile_id",
    "xbillingprofilename": "billing_profile_name",
    "xbillingexchangerate": "exchange_rate_pricing_to_billing",
    "xbillingexchangeratedate": "exchange_rate_date",
    "xcustomerid": "customer_tenant_id",
    "xcustomername": "customer_name",
    "xresellerid": "reseller_mpn_id",
    "xresellername": "reseller_name",
    "xpublisherid": "publisher_id",
    "xbilledcostinusd": "cost_in_usd",
    "xlistcostinusd": "payg_cost_in_usd",
}
# Columns only a FOCUS file has: any two of them make the file FocusCost.
_FOCUS_MARKERS = {"billed_cost", "effective_cost", "charge_period_start", "charge_category"}
_FOCUS_REQUIRED = (
    "billing_period_start",
    "charge_period_start",
    "charge_period_end",
    "billed_cost",
    "effective_cost",
    "billing_currency",
    "billing_account_id",
    "charge_category",
)
_FOCUS_MISSING_CHECKS = (
    ("billing_period_start", "billing period start"),
    ("charge_period_start", "charge period start"),
    ("charge_period_end", "charge period end"),
    ("billed_cost", "billed cost"),
    ("effective_cost", "effective cost"),
    ("billing_currency", "billing currency"),
    ("billing_account_id", "billing account"),
    ("charge_category", "charge category"),
)
_MCA_MARKERS = {"invoice_id", "payg_cost_in_billing_currency", "cost_in_pricing_currency", "product_id"}
_DERIVED = {"billing_period", "dataset", "source_format", "source_object", "ingestion_date"}
_LINEAGE = LINEAGE_COLUMNS
_MAP_COLUMNS = ("tags", "extra_columns")
_NOT_FROM_SOURCE = {*_DERIVED, *_LINEAGE, "extra_columns"}


def normalize_header(name: str) -> str:
    """``CostInBillingCurrency``, ``costInBillingCurrency``, ``cost_in_billing_currency`` -> one key."""
    return re.sub(r"[^0-9a-z]", "", name.replace("\ufeff", "").lower())


def _reader(path: Path, shown: str) -> tuple[str, bool]:
    """The table function reading ``path`` and whether it is Parquet."""
    name = path.name.lower()
    quoted = _lit(str(path))
    if name.endswith(".parquet"):
        return f"read_parquet({quoted}, file_row_number = true)", True
    if name.endswith((".csv", ".csv.gz", ".gz")):
        # all_varchar: every value is parsed below, so one bad value quarantines its row only.
        return f"read_csv({quoted}, all_varchar = true, header = true, delim = ',', quote = '\"')", False
    raise FailedPrecondition(f"{shown}: not an Azure cost details file (expected .csv, .csv.gz or .parquet)")


def _describe(con: duckdb.DuckDBPyConnection, path: Path, table_sql: str, shown: str) -> list[tuple[str, str]]:
    if path.stat().st_size == 0:
        raise FailedPrecondition(f"{shown}: the file is empty")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {table_sql}").fetchall()
        first = con.execute(f"SELECT 1 FROM {table_sql} LIMIT 1").fetchall()
    except duckdb.Error as exc:
        # Not chained: DuckDB's message names the local path.
        reason = read_error(exc, path, shown)
        raise FailedPrecondition(f"{shown}: cannot be read as an Azure cost details export: {reason}") from None
    if not first:
        raise FailedPrecondition(f"{shown}: the file has a header but no data rows")
    return [(str(r[0]), str(r[1])) for r in described if r[0] != "file_row_number"]


def _route(
    sources: list[_Source], raw_names: set[str], aliases: dict[str, str]
) -> tuple[dict[str, _Source], list[_Source]]:
    """Source columns -> raw columns (canonical names first, then aliases); the rest are extras."""
    canonical = {n.replace("_", ""): n for n in raw_names if n not in _NOT_FROM_SOURCE}
    by_raw: dict[str, _Source] = {}
    pending: list[_Source] = []
    for src in sources:
        target = canonical.get(normalize_header(src.name))
        if target is not None and target not in by_raw:
            by_raw[target] = src
        else:
            pending.append(src)
    extras: list[_Source] = []
    for src in pending:
        target = aliases.get(normalize_header(src.name))
        if target is not None and target not in by_raw:
            by_raw[target] = src
        else:
            extras.append(src)
    return by_raw, extras


def _is_focus(sources: list[_Source], raw_names: set[str], shown: str, source_object: str) -> bool:
    """Whether the file is a FocusCost export, by its columns; they must agree with the manifest."""
    names = {normalize_header(s.name) for s in sources}
    found = len({m for m in _FOCUS_MARKERS if m.replace("_", "") in names and m in raw_names}) >= 2
    declared = source_object.partition(DATASET_FRAGMENT)[2]
    if declared == "focus" and not found:
        raise FailedPrecondition(
            f"{shown}: the export manifest says FocusCost, but the file has no FOCUS columns "
            "(BilledCost, EffectiveCost, ChargePeriodStart, ChargeCategory)",
            reason="NOT_AN_AZURE_EXPORT",
        )
    if declared in ("actual", "amortized") and found:
        raise FailedPrecondition(
            f"{shown}: the export manifest says a cost details dataset ({declared}), "
            "but the file has FocusCost columns",
            reason="NOT_AN_AZURE_EXPORT",
        )
    return found


def _dataset(
    con: duckdb.DuckDBPyConnection, path: Path, source_object: str, table_sql: str, by_raw: dict[str, _Source]
) -> str:
    """actual | amortized: manifest (URI fragment), then file name, then the rows."""
    _, _, fragment = source_object.partition(DATASET_FRAGMENT)
    if fragment in ("actual", "amortized"):
        return fragment
    lowered = path.name.lower()
    for marker, dataset in (("amortized", "amortized"), ("actual", "actual")):
        if marker in lowered:
            return dataset
    charge = by_raw.get("charge_type")
    if charge is None:
        return "actual"
    model = by_raw.get("pricing_model")
    purchase = "false"
    if model is not None:
        commitment = f"{_ident(model.name)} IN ('Reservation', 'SavingsPlan')"
        purchase = f"bool_or({_ident(charge.name)} IN ('Purchase', 'Refund') AND {commitment})"
    row = con.execute(f"SELECT bool_or({_ident(charge.name)} ILIKE 'Unused%'), {purchase} FROM {table_sql}").fetchone()
    if row is not None and row[0] and not row[1]:
        return "amortized"
    return "actual"


class _Builder:
    def __init__(self, by_raw: dict[str, _Source], extras: list[_Source], raw_types: dict[str, str]) -> None:
        self.by_raw = by_raw
        self.extras = extras
        self.raw_types = raw_types
        self.parsed: list[str] = []
        self.checks: list[tuple[str, str]] = []

    def _check(self, src: _Source, alias: str, what: str) -> None:
        self.checks.append(
            (
                f"{src.text} IS NOT NULL AND {alias} IS NULL",
                f"{_lit(f'unparsable {what} in {src.name}: ')} || '''' || {src.text} || ''''",
            )
        )

    def typed(self, column: Column) -> str:
        src = self.by_raw.get(column.name)
        kind = self.raw_types[column.name]
        if kind == "STRING":
            return "CAST(NULL AS VARCHAR)" if src is None else src.text
        duck_type = {"DATE": "DATE", "TIMESTAMP": "TIMESTAMPTZ"}.get(kind, kind)
        if src is None:
            return f"CAST(NULL AS {duck_type})"
        alias = f'"t#{column.name}"'
        value = src.text
        if kind == "TIMESTAMP":
            # FocusCost writes ISO 8601 UTC, with seconds (1.0r2: 2024-01-01T00:00:00Z) or without (1.0).
            expr = f"TRY_CAST({value if src.is_text else src.alias} AS TIMESTAMPTZ)"
            self._check(src, alias, "timestamp")
        elif kind == "DATE":
            if src.is_text:
                # Cost details CSVs write US dates (9/2/2023, 09/02/2023); newer exports write ISO.
                expr = (
                    f"CASE WHEN {value} LIKE '%/%' THEN CAST(try_strptime({value}, '%m/%d/%Y') AS DATE) "
                    f"ELSE TRY_CAST(left({value}, 10) AS DATE) END"
                )
            else:
                expr = f"TRY_CAST({src.alias} AS DATE)"
            self._check(src, alias, "date")
        else:
            if src.is_text:
                # Exponent notation (5.64902E-05) goes through DOUBLE only when the exact parse fails.
                expr = (
                    f"coalesce(TRY_CAST({value} AS {duck_type}), TRY_CAST(TRY_CAST({value} AS DOUBLE) AS {duck_type}))"
                )
            else:
                expr = f"TRY_CAST({src.alias} AS {duck_type})"
            self._check(src, alias, "decimal")
        self.parsed.append(f"{expr} AS {alias}")
        return alias

    def tags(self) -> str:
        map_type = "MAP(VARCHAR, VARCHAR)"
        src = self.by_raw.get("tags")
        if src is None:
            return f"CAST(NULL AS {map_type})"
        if not src.is_text:
            return f"TRY_CAST({src.alias} AS {map_type})"
        # EA CSVs drop the outer braces: "k": "v","k2": "v2".
        wrapped = f"CASE WHEN {src.text} LIKE '{{%' THEN {src.text} ELSE '{{' || {src.text} || '}}' END"
        alias = '"t#tags"'
        self.parsed.append(f"{wrapped} AS {alias}")
        self.checks.append(
            (
                f"{src.text} IS NOT NULL AND NOT coalesce(json_valid({alias}), false)",
                f"{_lit(f'unparsable JSON tags in {src.name}: ')} || '''' || {src.text} || ''''",
            )
        )
        return f"CASE WHEN json_valid({alias}) THEN json_transform({alias}, '\"{map_type}\"') END"

    def extra_columns(self) -> str:
        if not self.extras:
            return "CAST(NULL AS MAP(VARCHAR, VARCHAR))"
        entries = [f"{{'key': {_lit(s.name)}, 'value': {s.text}}}" for s in self.extras]
        return f"map_from_entries(list_filter([{', '.join(entries)}], lambda e: e.value IS NOT NULL))"


def build_raw_select(
    con: duckdb.DuckDBPyConnection, path: Path, *, source_object: str, row_numbers: bool = True
) -> str:
    """Builds the one SELECT that turns an Azure export file into raw-table rows.

    Args:
        con: the connection the SELECT will run on (used here to DESCRIBE the file).
        path: a local export file (CSV, gzip CSV or Parquet): cost details (EA or MCA, actual or
            amortized) or FocusCost (1.0, 1.0r2, 1.2-preview).
        source_object: the object name recorded on every row and named by errors (never the local
            ``path``); a ``#dataset=actual|amortized|focus`` suffix (set by the connector from the
            manifest) names the dataset.
        row_numbers: number CSV rows (one ordered pass); Parquet rows are always numbered.

    Returns:
        A SELECT yielding the columns of ``cloud_azure_billing_raw_daily`` in schema order, then
        ``_quarantine_reason``, ``_source_row_number`` and ``_record``.

    Raises:
        FailedPrecondition: the file is empty, has no data rows, is not an Azure export, or its
            columns contradict the dataset its manifest names.
    """
    # Errors name the object, never the local path (a server temp file); the dataset hint is not part of it.
    shown = source_object.partition(DATASET_FRAGMENT)[0]
    table_sql, is_parquet = _reader(path, shown)
    described = _describe(con, path, table_sql, shown)
    sources = [_Source(name, dtype, f'"s#{i}"', trim=True) for i, (name, dtype) in enumerate(described)]
    schema = load_schema(RAW_TABLE)
    raw_types = {c.name: c.type.upper() for c in schema.columns}
    if _is_focus(sources, set(raw_types), shown, source_object):
        by_raw, extras = _route(sources, set(raw_types), _FOCUS_ALIASES)
        builder = _Builder(by_raw, extras, raw_types)
        outputs, checks = _focus_outputs(shown, builder, schema.columns, is_parquet)
    else:
        by_raw, extras = _route(sources, set(raw_types), _ALIASES)
        builder = _Builder(by_raw, extras, raw_types)
        dataset = _dataset(con, path, source_object, table_sql, by_raw)
        outputs, checks = _cost_details_outputs(shown, builder, schema.columns, dataset, is_parquet)
    outputs["source_object"] = _lit(shown)
    outputs.update(pipeline_columns())
    reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r in [*builder.checks, *checks]) + " END"

    inner = ", ".join(f"{_ident(s.name)} AS {s.alias}" for s in sources)
    file_row = ', file_row_number AS "_frn"' if is_parquet else ""
    passthrough = ', "_frn"' if is_parquet else ""
    layer1 = f"SELECT {inner}{file_row} FROM {table_sql}"
    layer2 = f"SELECT *{''.join(', ' + p for p in builder.parsed)} FROM ({layer1})"
    numbered = '"_frn" + 1' if is_parquet else "row_number() OVER ()" if row_numbers else "CAST(NULL AS BIGINT)"
    return finish_raw_select(
        layer2,
        outputs,
        schema.column_names,
        reason=reason,
        sources=[(s.name.replace(chr(0xFEFF), ""), s.alias, s.text) for s in sources],
        row_number=numbered,
        map_columns=_MAP_COLUMNS,
        passthrough=passthrough,
    )


def _source_outputs(builder: _Builder, columns: Sequence[Column]) -> dict[str, str]:
    """Raw column -> its expression, for every column read from the file."""
    outputs: dict[str, str] = {}
    for column in columns:
        if column.name in _DERIVED or column.name in _LINEAGE:
            continue
        if column.name == "tags":
            outputs[column.name] = builder.tags()
        elif column.name == "extra_columns":
            outputs[column.name] = builder.extra_columns()
        else:
            outputs[column.name] = builder.typed(column)
    return outputs


def _missing_checks(
    outputs: dict[str, str], builder: _Builder, checks: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    return [(f"{outputs[raw]} IS NULL", _lit(f"missing {what} ({builder.by_raw[raw].name})")) for raw, what in checks]


def _cost_details_outputs(
    shown: str, builder: _Builder, columns: Sequence[Column], dataset: str, is_parquet: bool
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Outputs and row checks of an ActualCost / AmortizedCost file."""
    by_raw = builder.by_raw
    missing = [c for c in _REQUIRED if c not in by_raw]
    if "billing_account_id" not in by_raw and "billing_profile_id" not in by_raw:
        missing.append("billing_account_id or billing_profile_id")
    if missing:
        raise FailedPrecondition(
            f"{shown}: not an Azure cost details export, required columns missing: {', '.join(missing)}",
            reason="NOT_AN_AZURE_EXPORT",
        )
    agreement = "mca" if _MCA_MARKERS & set(by_raw) else "ea"
    outputs = _source_outputs(builder, columns)
    outputs["billing_period"] = f"CAST(date_trunc('month', {outputs['billing_period_start_date']}) AS DATE)"
    outputs["dataset"] = _lit(dataset)
    outputs["source_format"] = _lit(f"azure_{agreement}_{'parquet' if is_parquet else 'csv'}")
    checks = _missing_checks(outputs, builder, _MISSING_CHECKS)
    account = " AND ".join(f"{outputs[c]} IS NULL" for c in ("billing_account_id", "billing_profile_id"))
    checks.append((account, _lit("missing billing account (BillingAccountId / BillingProfileId)")))
    return outputs, checks


def _focus_outputs(
    shown: str, builder: _Builder, columns: Sequence[Column], is_parquet: bool
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Outputs and row checks of a FocusCost file (any supported dataset version)."""
    missing = [c for c in _FOCUS_REQUIRED if c not in builder.by_raw]
    if missing:
        raise FailedPrecondition(
            f"{shown}: not an Azure FocusCost export, required columns missing: {', '.join(missing)}",
            reason="NOT_AN_AZURE_EXPORT",
        )
    outputs = _source_outputs(builder, columns)
    # The month in UTC, whatever the session time zone.
    outputs["billing_period"] = f"CAST(date_trunc('month', timezone('UTC', {outputs['billing_period_start']})) AS DATE)"
    outputs["dataset"] = _lit("focus")
    outputs["source_format"] = _lit(f"azure_focus_{'parquet' if is_parquet else 'csv'}")
    return outputs, _missing_checks(outputs, builder, _FOCUS_MISSING_CHECKS)
