"""The one DuckDB query that generates every synthetic row as a pure function of row number and seed."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cloudact_providers.aws.synthetic.catalog import (
    _ACCOUNTS,
    _CAT,
    _CUR2_RATE_AS_STRING,
    _INVOICING_ENTITY,
    _LEGACY_ATTRS,
    _PAYER,
    _PAYER_NAME,
    _REGIONS,
    _TRANSFER_PREFIX,
    CUR2_COLUMNS,
    LEGACY_CUR_COLUMNS,
    _Sku,
)

# Shares of the tag sets a usage row carries: _tag_pick 0 is untagged, 1-4 name the application
# ``{team}-svc-{n}``, most rows belonging to the first (a team's main service), few to the last.
_TAG_PICKS = (2, 7, 3, 2, 1)


def _sql_str(value: str) -> str:
    return value.replace("'", "''")


def _lit(value: object) -> str:
    if value is None or value == "":
        return "NULL::VARCHAR"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    return "'" + _sql_str(str(value)) + "'"


def _struct_list(items: Sequence[Mapping[str, object]]) -> str:
    return "[" + ", ".join("{" + ", ".join(f"'{k}': {_lit(v)}" for k, v in it.items()) + "}" for it in items) + "]"


def _weighted(weights: list[int]) -> str:
    return "[" + ", ".join(str(i + 1) for i, w in enumerate(weights) for _ in range(w)) + "]"


def _period(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


# The economics of the generated company. A reservation costs 65% of on-demand (30% amortized upfront
# + 35% recurring, 1 year Partial Upfront); a Compute Savings Plan rate is 72% of on-demand.
_RI_AMORTIZED = 0.30
_RI_RECURRING = 0.35
_SP_RATE = 0.72
# Rows of each kind in a cycle of 100 (see the package docstring).
_USAGE_ROWS, _MARKET_ROWS, _RI_ROWS, _SP_ROWS = 70, 2, 8, 7
# SKUs whose usage ``growth`` scales, and how much weight a new service (weight 0) gets per unit of growth.
_COMPUTE_CODES = frozenset({"AWSLambda", "AmazonECS", "AmazonEKS"})
_NEW_SERVICE_WEIGHT = 10.0


def _grows(s: _Sku) -> bool:
    return s.product_code in _COMPUTE_CODES or (s.product_code == "AmazonEC2" and s.family == "Compute Instance")


def _weight(s: _Sku, growth: float) -> int:
    """How often a row of this pool picks ``s``, in tenths of the catalogue's weights."""
    if s.weight == 0:
        return round(10 * _NEW_SERVICE_WEIGHT * max(growth, 0.0))
    return round(10 * s.weight * (1.0 + growth if _grows(s) else 1.0))


def _expected_cost(s: _Sku) -> float:
    """Mean on-demand cost of a usage row of ``s``: ``amt`` is ``scale * (0.002 + 4 u^2)``, u uniform."""
    return s.rate * (1.0 if s.scale == 0 else s.scale * (0.002 + 4.0 / 3.0))


@dataclass(frozen=True)
class _Pool:
    """SKUs a kind of row picks from: a DuckDB list with each SKU id repeated by its weight."""

    ids: str
    size: int
    mean_cost: float  # mean on-demand cost of a usage row of the pool


def _pool(pred: Callable[[_Sku], bool], growth: float = 0.0) -> _Pool:
    picks = [(i + 1, s, _weight(s, growth)) for i, s in enumerate(_CAT) if pred(s)]
    total = sum(w for _, _, w in picks)
    ids = [str(i) for i, _, w in picks for _ in range(w)]
    mean = sum(w * _expected_cost(s) for _, s, w in picks) / total
    return _Pool("[" + ", ".join(ids) + "]", total, mean)


def _base_sql(lo: int, hi: int, seed: int, billing_period: date, growth: float = 0.0) -> str:
    """The canonical relation: one row per line item, typed, with CUR 2.0 names (+ helpers ``_x``).

    ``growth`` shifts the month: compute usage rows are picked ``1 + growth`` times as often and a
    new service (catalogue weight 0) ramps up in proportion; 0 is the baseline month.
    """
    start, end = _period(billing_period)
    days = calendar.monthrange(start.year, start.month)[1]
    hours = days * 24
    start_ts = datetime(start.year, start.month, 1)
    skus = []
    for s in _CAT:
        attrs = dict(s.attrs)
        skus.append({
            "code": s.product_code, "pname": s.product_name, "family": s.family, "ut": s.usage_type,
            "op": s.operation, "unit": s.unit, "rate": s.rate, "scale": s.scale, "desc": s.description,
            "res": s.resource, "itype": s.instance_type, "nf": s.normalization,
            "legal": s.legal_entity, "svc": s.servicecode or s.product_code,
            "svcname": s.servicename or s.product_name,
            **{f"a_{a}": attrs.get(a, "") for a in _LEGACY_ATTRS},
        })  # fmt: skip
    accounts = [{"id": a[0], "name": a[1], "team": a[2], "env": a[3], "cc": a[4], "bu": a[5]} for a in _ACCOUNTS]
    regions = [{"code": r[0], "loc": r[1], "pfx": r[2], "xfer": _TRANSFER_PREFIX.get(r[0], r[2] or "USE1-")}
               for r in _REGIONS]  # fmt: skip
    # A service being adopted (catalogue weight 0) runs where the ML and data teams work, not everywhere.
    new_services = "(" + (", ".join(str(i + 1) for i, s in enumerate(_CAT) if s.weight == 0) or "0") + ")"
    ml_accounts = "[" + ", ".join(str(i + 1) for i, a in enumerate(_ACCOUNTS) if a[2] in ("ml", "data")) + "]"
    usage_pool = _pool(lambda s: not s.legal_entity, growth)
    market_pool = _pool(lambda s: bool(s.legal_entity))
    # Commitments were bought before the month: their pools do not grow with it.
    ri_pool = _pool(lambda s: "ri" in s.commit)
    sp_pool = _pool(lambda s: "sp" in s.commit)
    # Commitment fees are sized to the usage they cover: per cycle of 100 rows, the RIFee line bills
    # the reserved hours behind the cycle's DiscountedUsage rows (at the SKU's rate) plus a small
    # unused share, and the SavingsPlanRecurringFee line the commitment its covered rows use, plus a
    # small unused share. The RI upfront Fee is a rolling purchase: about 1/12 of a year's upfront.
    ri_covered = _RI_ROWS * ri_pool.mean_cost
    sp_covered = _SP_ROWS * _SP_RATE * sp_pool.mean_cost
    cycle_cost = (_USAGE_ROWS * usage_pool.mean_cost + _MARKET_ROWS * market_pool.mean_cost + ri_covered
                  + _SP_ROWS * sp_pool.mean_cost)  # fmt: skip

    def r(k: int) -> str:  # uniform [0, 1) from (row, seed, k)
        return f"((hash(b, {int(seed)}, {k}) % 1000003) / 1000003.0)"

    def h(k: int) -> str:  # non-negative integer from (row, seed, k)
        return f"(hash(b, {int(seed)}, {k}) % 1000000007)::BIGINT"

    return f"""
WITH t0 AS (
  SELECT i, i % 100 AS slot,
         CASE WHEN i % 100 BETWEEN 87 AND 93 AND i >= 7 THEN i - 7 ELSE i END AS b
  FROM range({int(lo)}, {int(hi)}) AS g(i)
), t1 AS (
  SELECT *,
    CASE
      WHEN slot < 72 THEN 'Usage'
      WHEN slot < 80 THEN 'DiscountedUsage'
      WHEN slot < 87 THEN 'SavingsPlanCoveredUsage'
      WHEN slot < 94 THEN CASE WHEN i >= 7 THEN 'SavingsPlanNegation' ELSE 'SavingsPlanCoveredUsage' END
      WHEN slot = 94 THEN 'RIFee'
      WHEN slot = 95 THEN 'SavingsPlanRecurringFee'
      WHEN slot = 96 THEN 'Tax'
      WHEN slot = 97 THEN CASE WHEN (i // 100) % 3 = 2 THEN 'Refund' ELSE 'Credit' END
      WHEN slot = 98 THEN CASE WHEN (i // 100) % 2 = 1 THEN 'BundledDiscount' ELSE 'EdpDiscount' END
      ELSE 'Fee'
    END AS lit,
    CASE
      WHEN slot IN (70, 71) THEN {market_pool.ids}[1 + {h(1)} % {market_pool.size}]
      WHEN slot BETWEEN 72 AND 79 OR slot IN (94, 99) THEN {ri_pool.ids}[1 + {h(1)} % {ri_pool.size}]
      WHEN slot BETWEEN 80 AND 93 OR slot = 95 THEN {sp_pool.ids}[1 + {h(1)} % {sp_pool.size}]
      ELSE {usage_pool.ids}[1 + {h(1)} % {usage_pool.size}]
    END AS k,
    CASE WHEN k IN {new_services} THEN {ml_accounts}[1 + {h(2)} % {len(ml_accounts.split(","))}]
         ELSE {_weighted([a[6] for a in _ACCOUNTS])}[1 + {h(2)} % {sum(a[6] for a in _ACCOUNTS)}] END AS ai,
    {_weighted([x[3] for x in _REGIONS])}[1 + {h(3)} % {sum(x[3] for x in _REGIONS)}] AS ri,
    1 + ({h(4)} % {len(_REGIONS) - 1}) AS ri_to_off,
    ({h(5)} % {days})::INTEGER AS d,
    ({h(6)} % 24)::INTEGER AS hr,
    {r(7)} AS u1, {r(8)} AS u2, {r(9)} AS u3,
    ({h(10)} % 40)::INTEGER AS res_n
  FROM t0
), t2 AS (
  SELECT *,
    {_struct_list(skus)}[k] AS s,
    {_struct_list(accounts)}[ai] AS a,
    {_struct_list(regions)}[ri] AS rg,
    {_struct_list(regions)}[1 + (ri - 1 + ri_to_off) % {len(_REGIONS)}] AS rg_to,
    TIMESTAMP '{start_ts:%Y-%m-%d %H:%M:%S}' + to_days(d) + to_hours(hr) AS hour_start
  FROM t1
), t3 AS (
  SELECT *,
    lit IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation',
            'EdpDiscount', 'BundledDiscount') AS is_usage,
    lit IN ('RIFee', 'Tax', 'Credit', 'Refund') AS is_monthly,
    s.legal IS NOT NULL AS is_market,
    CASE WHEN s.scale = 0 THEN 1.0 ELSE round(s.scale * (0.002 + 4.0 * u1 * u1), 8) END AS amt,
    0.01 + 0.05 * u3 AS unused_share,
    md5(concat(ai, '/', k, '/', ri, '/', res_n, '/', {int(seed)})) AS rhex,
    lower(concat(md5(concat(i, ':', {int(seed)})), left(md5(concat({int(seed)}, ':', i)), 19))) AS line_id
  FROM t2
), t4 AS (
  SELECT *,
    CASE WHEN is_monthly THEN TIMESTAMP '{start_ts:%Y-%m-%d %H:%M:%S}' ELSE hour_start END AS ts_start,
    CASE WHEN is_monthly THEN TIMESTAMP '{start_ts:%Y-%m-%d %H:%M:%S}' + to_days({days})
         ELSE hour_start + to_hours(1) END AS ts_end,
    replace(replace(replace(s.ut, '{{xfer}}', concat(rg.xfer, replace(rg_to.xfer, '-', ''))), '--', '-'),
            'USE1USE1', 'USE1') AS ut_base,
    replace(replace(replace(replace(replace(replace(coalesce(s.res, ''), '{{region}}', rg.code),
      '{{account}}', a.id), '{{team}}', a.team), '{{hex17}}', left(rhex, 17)), '{{hex6}}', left(rhex, 6)),
      '{{uuid}}', concat_ws('-', left(rhex, 8), substr(rhex, 9, 4), substr(rhex, 13, 4),
                            substr(rhex, 17, 4), substr(rhex, 21, 12))) AS resource_id,
    concat('arn:aws:ec2:', rg.code, ':', a.id, ':reserved-instances/',
           concat_ws('-', left(md5(concat('ri', k, {int(seed)})), 8), substr(md5(concat('ri', k, {int(seed)})), 9, 4),
                     '4', substr(md5(concat('ri', k, {int(seed)})), 13, 12))) AS ri_arn,
    concat('arn:aws:savingsplans::', '{_PAYER}', ':savingsplan/',
           concat_ws('-', left(md5(concat('sp', ai, {int(seed)})), 8), substr(md5(concat('sp', ai, {int(seed)})), 9, 4),
                     substr(md5(concat('sp', ai, {int(seed)})), 13, 4),
                     substr(md5(concat('sp', ai, {int(seed)})), 17, 12))) AS sp_arn,
    (12345000 + k * 7 + ri)::VARCHAR AS subscription_id,
    upper(substr(md5(concat('sku', k, ri)), 1, 16)) AS sku,
    round({sp_covered!r} / (1.0 - unused_share), 4) AS sp_commit,
    round({ri_covered!r} / s.rate / (1.0 - unused_share), 4) AS ri_hours,
    round({_RI_AMORTIZED * ri_covered * 12!r} * (0.04 + 0.08 * u2), 2) AS ri_upfront
  FROM t3
), t5 AS (
  SELECT *,
    CASE lit
      WHEN 'Usage' THEN s.rate
      WHEN 'SavingsPlanCoveredUsage' THEN s.rate
      WHEN 'DiscountedUsage' THEN 0.0
      WHEN 'SavingsPlanNegation' THEN -s.rate
      WHEN 'RIFee' THEN round(s.rate * {_RI_RECURRING}, 6)
      WHEN 'Fee' THEN ri_upfront
      WHEN 'SavingsPlanRecurringFee' THEN sp_commit
      WHEN 'EdpDiscount' THEN round(-s.rate * 0.06, 10)
      WHEN 'BundledDiscount' THEN round(-s.rate * 0.5, 10)
    END AS urate,
    CASE lit
      WHEN 'RIFee' THEN ri_hours
      WHEN 'Fee' THEN 1.0
      WHEN 'SavingsPlanRecurringFee' THEN 1.0
      WHEN 'Tax' THEN 1.0
      WHEN 'Credit' THEN 0.0
      WHEN 'Refund' THEN 0.0
      ELSE amt
    END AS uamt,
    CASE WHEN lit IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') THEN s.rate END AS od_rate
  FROM t4
), c AS (
  SELECT *,
    CASE lit
      WHEN 'Tax' THEN round({cycle_cost!r} * (0.03 + 0.05 * u3), 2)
      WHEN 'Credit' THEN -round({cycle_cost!r} * (0.01 + 0.05 * u3), 2)
      WHEN 'Refund' THEN -round({cycle_cost!r} * (0.005 + 0.02 * u3), 2)
      ELSE round(urate * uamt, 10)
    END AS ucost,
    round(coalesce(od_rate * uamt, 0.0), 10) AS od_cost,
    CASE WHEN lit = 'DiscountedUsage' THEN round(s.rate * {_RI_AMORTIZED} * uamt, 10) END AS ri_amort_usage,
    CASE WHEN lit = 'DiscountedUsage' THEN round(s.rate * {_RI_RECURRING} * uamt, 10) END AS ri_recur_usage,
    CASE WHEN lit = 'RIFee' THEN round(uamt * unused_share, 4) END AS ri_unused_qty,
    CASE WHEN lit = 'SavingsPlanCoveredUsage' OR lit = 'SavingsPlanNegation' THEN round(s.rate * {_SP_RATE}, 10) END
      AS sp_rate
  FROM t5
)
SELECT
  line_id AS identity_line_item_id,
  concat(strftime(date_trunc('day', ts_start), '%Y-%m-%dT%H:%M:%SZ'), '/',
         strftime(CASE WHEN is_monthly THEN ts_end ELSE date_trunc('day', ts_start) + to_days(1) END,
                  '%Y-%m-%dT%H:%M:%SZ')) AS identity_time_interval,
  CASE lit WHEN 'Fee' THEN 'Purchase' WHEN 'Refund' THEN 'Refund' ELSE 'Anniversary' END AS bill_bill_type,
  CASE WHEN is_market THEN 'AWS Marketplace' ELSE 'AWS' END AS bill_billing_entity,
  TIMESTAMP '{start:%Y-%m-%d} 00:00:00' AS _bp_start,
  TIMESTAMP '{end:%Y-%m-%d} 00:00:00' AS _bp_end,
  NULL::VARCHAR AS bill_invoice_id,
  '{_INVOICING_ENTITY}' AS bill_invoicing_entity,
  '{_PAYER}' AS bill_payer_account_id,
  '{_PAYER_NAME}' AS bill_payer_account_name,
  a.id AS line_item_usage_account_id,
  a.name AS line_item_usage_account_name,
  lit AS line_item_line_item_type,
  ts_start AS _start, ts_end AS _end,
  CASE lit WHEN 'SavingsPlanRecurringFee' THEN 'ComputeSavingsPlans' ELSE s.code END AS line_item_product_code,
  CASE
    WHEN lit = 'RIFee' THEN concat(rg.pfx, 'HeavyUsage:', coalesce(s.itype, 'm5.xlarge'))
    WHEN lit = 'Fee' THEN concat(rg.pfx, 'HeavyUsage:', coalesce(s.itype, 'm5.xlarge'))
    WHEN lit = 'SavingsPlanRecurringFee' THEN 'ComputeSP:1yrNoUpfront'
    WHEN lit IN ('Tax', 'Credit', 'Refund') THEN NULL
    WHEN is_market THEN s.ut
    ELSE concat(CASE WHEN s.code = 'AWSDataTransfer' AND s.ut LIKE '%xfer%' THEN '' ELSE rg.pfx END, ut_base)
  END AS line_item_usage_type,
  CASE WHEN lit IN ('Tax', 'Credit', 'Refund') THEN NULL
       WHEN lit = 'SavingsPlanRecurringFee' THEN NULL ELSE s.op END AS line_item_operation,
  CASE WHEN is_usage AND s.itype IS NOT NULL AND NOT is_market
       THEN concat(rg.code, chr((97 + hash(ai, res_n) % 3)::INTEGER)) END AS line_item_availability_zone,
  CASE WHEN is_usage AND NOT is_market THEN resource_id END AS line_item_resource_id,
  uamt AS line_item_usage_amount,
  CASE WHEN s.nf > 0 AND lit IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'RIFee')
       THEN s.nf END AS line_item_normalization_factor,
  CASE WHEN s.nf > 0 AND lit IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'RIFee')
       THEN round(s.nf * uamt, 8) END AS line_item_normalized_usage_amount,
  'USD' AS line_item_currency_code,
  urate AS _urate,
  ucost AS line_item_unblended_cost,
  CASE WHEN lit = 'Usage' AND NOT is_market AND (i // 100) % 2 = 0 THEN round(ucost * 0.94, 10) END
    AS line_item_net_unblended_cost,
  CASE WHEN lit = 'Usage' AND NOT is_market AND (i // 100) % 2 = 0 THEN round(urate * 0.94, 10) END
    AS _net_urate,
  CASE lit
    WHEN 'Tax' THEN concat('Tax for product code ', s.code)
    WHEN 'Credit' THEN concat('AWS Activate Credits - ', s.svcname)
    WHEN 'Refund' THEN concat('Refund for ', s.code, ' usage charged in error on ', strftime(hour_start, '%Y-%m-%d'))
    WHEN 'EdpDiscount' THEN 'Enterprise Program Discount (EDP) - 6% commitment discount'
    WHEN 'BundledDiscount' THEN concat('Bundled discount: free ', s.unit, ' included with ', s.pname)
    WHEN 'RIFee' THEN concat('USD ', urate, ' hourly fee per ', coalesce(s.itype, ''),
                            ' reserved instance, 1 year Partial Upfront')
    WHEN 'Fee' THEN concat('Sign up charge for subscription: ', subscription_id, ', planId: ', 2000000 + k)
    WHEN 'SavingsPlanRecurringFee' THEN concat('1 year No Upfront Compute Savings Plan, ', sp_commit,
                                              ' USD per hour commitment')
    WHEN 'SavingsPlanNegation' THEN concat('SavingsPlanNegation used by AccountId : ', a.id,
                                          ' and UsageSku : ', sku)
    WHEN 'SavingsPlanCoveredUsage' THEN concat('Computed Savings Plan rate of USD ', sp_rate, ' per ', s.unit,
                                              ' for ', s.pname, ' in ', rg.loc)
    WHEN 'DiscountedUsage' THEN concat('USD 0.0 hourly fee per ', coalesce(s.itype, ''), ' (reserved) in ',
                                      rg.loc, ', covered by reservation ', subscription_id)
    ELSE replace(replace(replace(s.desc, '{{rate}}', s.rate::VARCHAR), '{{location}}', rg.loc),
                 '{{to_location}}', rg_to.loc)
  END AS line_item_line_item_description,
  CASE WHEN lit = 'Tax' THEN CASE WHEN rg.code LIKE 'eu-%' THEN 'VAT' ELSE 'Sales Tax' END END
    AS line_item_tax_type,
  CASE WHEN is_market THEN s.legal ELSE '{_INVOICING_ENTITY}' END AS line_item_legal_entity,
  CASE WHEN lit = 'SavingsPlanRecurringFee' THEN 'Savings Plans for AWS Compute usage' ELSE s.pname END
    AS _product_name,
  CASE WHEN lit = 'SavingsPlanRecurringFee' THEN 'ComputeSavingsPlans' ELSE s.svc END AS product_servicecode,
  CASE WHEN lit = 'SavingsPlanRecurringFee' THEN 'Savings Plans for AWS Compute usage' ELSE s.svcname END
    AS _servicename,
  CASE WHEN lit = 'SavingsPlanRecurringFee' THEN 'Savings Plan' ELSE s.family END AS product_product_family,
  CASE WHEN is_market OR s.code = 'AmazonCloudFront' THEN NULL ELSE rg.code END AS product_region_code,
  CASE WHEN is_market OR s.code = 'AmazonCloudFront' THEN NULL ELSE rg.loc END AS product_location,
  CASE WHEN is_market OR s.code = 'AmazonCloudFront' THEN NULL ELSE 'AWS Region' END AS product_location_type,
  CASE WHEN s.code = 'AWSDataTransfer' THEN rg.loc END AS product_from_location,
  CASE WHEN s.code = 'AWSDataTransfer' THEN 'AWS Region' END AS product_from_location_type,
  CASE WHEN s.code = 'AWSDataTransfer' THEN rg.code END AS product_from_region_code,
  CASE WHEN s.code = 'AWSDataTransfer' THEN CASE WHEN s.ut LIKE '%xfer%' THEN rg_to.loc ELSE 'External' END END
    AS product_to_location,
  CASE WHEN s.code = 'AWSDataTransfer' THEN CASE WHEN s.ut LIKE '%xfer%' THEN 'AWS Region' ELSE 'Other' END END
    AS product_to_location_type,
  CASE WHEN s.code = 'AWSDataTransfer' AND s.ut LIKE '%xfer%' THEN rg_to.code END AS product_to_region_code,
  CASE WHEN lit = 'Fee' THEN 'RI-Upfront' END AS product_fee_code,
  CASE WHEN lit = 'Fee' THEN 'Upfront fee for a 1 year Partial Upfront reserved instance' END
    AS product_fee_description,
  CASE WHEN s.itype IS NOT NULL THEN split_part(s.itype, '.', CASE WHEN s.itype LIKE '%.%.%' THEN 2 ELSE 1 END) END
    AS product_instance_family,
  s.itype AS product_instance_type,
  CASE WHEN lit IN ('Tax', 'Credit', 'Refund') THEN NULL ELSE s.op END AS product_operation,
  CASE WHEN lit IN ('Tax', 'Credit', 'Refund') THEN NULL ELSE s.unit END AS product_pricing_unit,
  CASE WHEN lit IN ('Tax', 'Credit', 'Refund') THEN NULL ELSE sku END AS product_sku,
  CASE WHEN lit IN ('Tax', 'Credit', 'Refund') OR is_market THEN NULL ELSE concat(rg.pfx, ut_base) END
    AS product_usagetype,
  s AS _s,
  CASE WHEN lit IN ('Tax', 'Credit', 'Refund') THEN NULL
       ELSE concat(sku, '.', upper(left(md5(concat(lit, k)), 10)), '.6YS6EN2CT7') END AS pricing_rate_code,
  CASE WHEN lit IN ('Tax', 'Credit', 'Refund') THEN NULL
       ELSE (123456780000 + k * 37 + ri)::VARCHAR END AS pricing_rate_id,
  'USD' AS pricing_currency,
  od_cost AS pricing_public_on_demand_cost,
  od_rate AS _od_rate,
  CASE
    WHEN lit IN ('DiscountedUsage', 'RIFee', 'Fee') THEN 'Reserved'
    WHEN lit = 'SavingsPlanRecurringFee' THEN 'Savings Plan'
    WHEN s.ut LIKE 'SpotUsage%' THEN 'Spot'
    WHEN lit IN ('Usage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation') THEN 'OnDemand'
  END AS pricing_term,
  CASE WHEN lit IN ('Tax', 'Credit', 'Refund') THEN NULL ELSE s.unit END AS pricing_unit,
  CASE WHEN lit IN ('DiscountedUsage', 'RIFee', 'Fee') THEN '1yr' END AS pricing_lease_contract_length,
  CASE WHEN lit IN ('DiscountedUsage', 'RIFee', 'Fee') THEN 'standard' END AS pricing_offering_class,
  CASE WHEN lit IN ('DiscountedUsage', 'RIFee', 'Fee') THEN 'Partial Upfront' END AS pricing_purchase_option,
  ri_amort_usage AS reservation_amortized_upfront_cost_for_usage,
  CASE WHEN lit = 'RIFee' THEN round(s.rate * {_RI_AMORTIZED} * uamt, 10) END
    AS reservation_amortized_upfront_fee_for_billing_period,
  CASE WHEN lit = 'DiscountedUsage' THEN ri_amort_usage + ri_recur_usage
       WHEN lit = 'RIFee' THEN round(ri_unused_qty * s.rate * {_RI_AMORTIZED + _RI_RECURRING}, 10) END
    AS reservation_effective_cost,
  CASE WHEN lit IN ('DiscountedUsage', 'RIFee', 'Fee') THEN
    strftime(TIMESTAMP '{start_ts:%Y-%m-%d %H:%M:%S}' - to_days(40 + k) + to_days(365), '%Y-%m-%dT%H:%M:%S.000Z') END
    AS reservation_end_time,
  CASE WHEN lit IN ('DiscountedUsage', 'RIFee', 'Fee') THEN 'Original' END AS reservation_modification_status,
  CASE WHEN lit = 'RIFee' THEN {hours}.0 * s.nf END AS _ri_norm_per_res,
  CASE WHEN lit = 'RIFee' THEN round(uamt / {hours}.0, 6) END AS _ri_n,
  ri_recur_usage AS reservation_recurring_fee_for_usage,
  CASE WHEN lit IN ('DiscountedUsage', 'RIFee', 'Fee') THEN ri_arn END AS reservation_reservation_a_r_n,
  CASE WHEN lit IN ('DiscountedUsage', 'RIFee', 'Fee') THEN
    strftime(TIMESTAMP '{start_ts:%Y-%m-%d %H:%M:%S}' - to_days(40 + k), '%Y-%m-%dT%H:%M:%S.000Z') END
    AS reservation_start_time,
  CASE WHEN is_usage OR lit IN ('RIFee', 'Fee') THEN subscription_id END AS reservation_subscription_id,
  CASE WHEN lit = 'RIFee' THEN uamt * s.nf END AS _ri_total_norm,
  CASE WHEN lit = 'RIFee' THEN uamt END AS _ri_total_units,
  CASE WHEN lit = 'RIFee' THEN {hours}.0 END AS _ri_units_per,
  CASE WHEN lit = 'RIFee' THEN round(ri_unused_qty * s.rate * {_RI_AMORTIZED}, 10) END
    AS reservation_unused_amortized_upfront_fee_for_billing_period,
  CASE WHEN lit = 'RIFee' THEN round(ri_unused_qty * s.nf, 4) END AS reservation_unused_normalized_unit_quantity,
  ri_unused_qty AS reservation_unused_quantity,
  CASE WHEN lit = 'RIFee' THEN round(ri_unused_qty * urate, 10) END AS reservation_unused_recurring_fee,
  CASE WHEN lit = 'RIFee' THEN round(s.rate * {_RI_AMORTIZED} * 8760 * uamt / {hours}.0, 2)
       WHEN lit = 'Fee' THEN ucost END AS reservation_upfront_value,
  CASE WHEN lit = 'SavingsPlanRecurringFee' THEN sp_commit END AS savings_plan_total_commitment_to_date,
  CASE WHEN lit IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee') THEN sp_arn END
    AS savings_plan_savings_plan_a_r_n,
  sp_rate AS savings_plan_savings_plan_rate,
  CASE WHEN lit = 'SavingsPlanCoveredUsage' THEN round(sp_rate * uamt, 10)
       WHEN lit = 'SavingsPlanRecurringFee' THEN round(sp_commit * (1.0 - unused_share), 10) END
    AS savings_plan_used_commitment,
  CASE WHEN lit = 'SavingsPlanCoveredUsage' THEN round(sp_rate * uamt, 10)
       WHEN lit = 'SavingsPlanRecurringFee' THEN round(sp_commit * unused_share, 10) END
    AS savings_plan_savings_plan_effective_cost,
  CASE WHEN lit = 'SavingsPlanRecurringFee' THEN 0.0 END
    AS savings_plan_amortized_upfront_commitment_for_billing_period,
  CASE WHEN lit = 'SavingsPlanRecurringFee' THEN sp_commit END
    AS savings_plan_recurring_commitment_for_billing_period,
  CASE WHEN lit IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee') THEN
    strftime(TIMESTAMP '{start_ts:%Y-%m-%d %H:%M:%S}' - to_days(100 + ai), '%Y-%m-%dT%H:%M:%S.000Z') END
    AS savings_plan_start_time,
  CASE WHEN lit IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee') THEN
    strftime(TIMESTAMP '{start_ts:%Y-%m-%d %H:%M:%S}' - to_days(100 + ai) + to_days(365), '%Y-%m-%dT%H:%M:%S.000Z') END
    AS savings_plan_end_time,
  CASE WHEN lit IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee')
       THEN 'ComputeSavingsPlans' END AS savings_plan_offering_type,
  CASE WHEN lit IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee')
       THEN 'No Upfront' END AS savings_plan_payment_option,
  CASE WHEN lit IN ('SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee')
       THEN '1yr' END AS savings_plan_purchase_term,
  CASE WHEN lit = 'SavingsPlanCoveredUsage' THEN round(sp_rate * uamt, 10) END
    AS savings_plan_net_savings_plan_effective_cost,
  a AS _a, is_market AS _is_market,
  {_weighted(list(_TAG_PICKS))}[1 + (hash(b, {int(seed)}, 11) % {sum(_TAG_PICKS)})::BIGINT] - 1 AS _tag_pick
FROM c
"""


def _legacy_select(names: list[str], lo: int, hi: int, seed: int, billing_period: date, growth: float = 0.0) -> str:
    iso = "'%Y-%m-%dT%H:%M:%S.000Z'"
    exprs = [
        "identity_line_item_id", "identity_time_interval", "bill_invoice_id", "bill_invoicing_entity",
        "bill_billing_entity", "bill_bill_type", "bill_payer_account_id", f"strftime(_bp_start, {iso})",
        f"strftime(_bp_end, {iso})", "line_item_usage_account_id", "line_item_line_item_type",
        f"strftime(_start, {iso})", f"strftime(_end, {iso})", "line_item_product_code",
        "line_item_usage_type", "line_item_operation", "line_item_availability_zone",
        "line_item_usage_amount", "line_item_normalization_factor", "line_item_normalized_usage_amount",
        "line_item_currency_code", "_urate", "line_item_unblended_cost", "_urate",
        "line_item_unblended_cost", "line_item_line_item_description", "line_item_tax_type",
        "line_item_legal_entity", "_product_name", "_s.a_availability", "_s.a_durability",
        "_s.a_eventType", "product_fee_code", "product_fee_description", "product_from_location",
        "product_from_location_type", "product_from_region_code", "_s.a_group", "_s.a_groupDescription",
        "product_location", "product_location_type", "_s.a_messageDeliveryFrequency",
        "_s.a_messageDeliveryOrder", "product_operation", "_s.a_overhead", "product_product_family",
        "_s.a_productType", "_s.a_queueType", "product_region_code", "product_region_code",
        "product_servicecode", "_servicename", "product_sku", "_s.a_storageClass", "_s.a_storageMedia",
        "product_to_location", "product_to_location_type", "product_to_region_code",
        "_s.a_transferType", "product_usagetype", "_s.a_version", "_s.a_volumeType", "pricing_rate_code",
        "pricing_rate_id", "pricing_currency", "pricing_public_on_demand_cost", "_od_rate",
        "pricing_term", "pricing_unit", "reservation_amortized_upfront_cost_for_usage",
        "reservation_amortized_upfront_fee_for_billing_period", "reservation_effective_cost",
        "reservation_end_time", "reservation_modification_status", "_ri_norm_per_res", "_ri_n",
        "reservation_recurring_fee_for_usage", "reservation_start_time", "reservation_subscription_id",
        "_ri_total_norm", "_ri_total_units", "_ri_units_per",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "reservation_unused_normalized_unit_quantity", "reservation_unused_quantity",
        "reservation_unused_recurring_fee", "reservation_upfront_value",
        "savings_plan_total_commitment_to_date", "savings_plan_savings_plan_a_r_n",
        "savings_plan_savings_plan_rate", "savings_plan_used_commitment",
        "savings_plan_savings_plan_effective_cost",
        "savings_plan_amortized_upfront_commitment_for_billing_period",
        "savings_plan_recurring_commitment_for_billing_period",
    ]  # fmt: skip
    assert len(exprs) == len(names) == len(LEGACY_CUR_COLUMNS)
    cols = ",\n  ".join(f'{e} AS "{n}"' for e, n in zip(exprs, names, strict=True))
    return f"SELECT\n  {cols}\nFROM ({_base_sql(lo, hi, seed, billing_period, growth)})"


def _cur2_select(lo: int, hi: int, seed: int, billing_period: date, *, csv: bool, growth: float = 0.0) -> str:
    product = (
        "map_from_entries(list_filter(["
        "('product_name', _product_name), ('servicename', _servicename), "
        "('availability', _s.a_availability), ('durability', _s.a_durability), "
        "('group', _s.a_group), ('group_description', _s.a_groupDescription), "
        "('storage_class', _s.a_storageClass), ('storage_media', _s.a_storageMedia), "
        "('volume_type', _s.a_volumeType), ('transfer_type', _s.a_transferType), "
        "('queue_type', _s.a_queueType), ('region', product_region_code), "
        "('instance_type_family', product_instance_family)], lambda e: e[2] IS NOT NULL))"
    )
    tags = (
        "CASE WHEN _is_market OR _tag_pick = 0 THEN MAP {}::MAP(VARCHAR, VARCHAR) ELSE "
        "map_from_entries(list_filter([('user_team', _a.team), ('user_environment', _a.env), "
        "('user_cost_center', _a.cc), ('user_application', concat(_a.team, '-svc-', _tag_pick)), "
        "('aws_created_by', CASE WHEN _tag_pick > 2 THEN concat('AssumedRole:AROA', upper(left(md5(_a.id), 17)), "
        "':terraform') END)], lambda e: e[2] IS NOT NULL)) END"
    )
    cost_category = "MAP {'business_unit': _a.bu, 'environment': _a.env}"
    discount = (
        "CASE WHEN line_item_net_unblended_cost IS NOT NULL THEN "
        "MAP {'edp_discount': round(line_item_net_unblended_cost - line_item_unblended_cost, 10)} "
        "ELSE MAP {}::MAP(VARCHAR, DOUBLE) END"
    )
    special = {
        "bill_billing_period_start_date": "_bp_start",
        "bill_billing_period_end_date": "_bp_end",
        "line_item_usage_start_date": "_start",
        "line_item_usage_end_date": "_end",
        "line_item_unblended_rate": "_urate",
        "line_item_blended_rate": "_urate",
        "line_item_blended_cost": "line_item_unblended_cost",
        "line_item_net_unblended_rate": "_net_urate",
        "pricing_public_on_demand_rate": "_od_rate",
        "product": product,
        "resource_tags": tags,
        "cost_category": cost_category,
        "discount": discount,
        "discount_bundled_discount": (
            "CASE WHEN line_item_line_item_type = 'BundledDiscount' THEN line_item_unblended_cost END"
        ),
        "discount_total_discount": (
            "CASE WHEN line_item_net_unblended_cost IS NOT NULL "
            "THEN round(line_item_net_unblended_cost - line_item_unblended_cost, 10) END"
        ),
        "reservation_availability_zone": "NULL::VARCHAR",
        "reservation_net_effective_cost": "round(reservation_effective_cost * 0.94, 10)",
        "reservation_normalized_units_per_reservation": "_ri_norm_per_res",
        "reservation_number_of_reservations": "_ri_n",
        "reservation_total_reserved_normalized_units": "_ri_total_norm",
        "reservation_total_reserved_units": "_ri_total_units",
        "reservation_units_per_reservation": "_ri_units_per",
        "savings_plan_region": "CASE WHEN savings_plan_savings_plan_a_r_n IS NOT NULL THEN product_location END",
        "savings_plan_instance_type_family": "NULL::VARCHAR",
        "split_line_item_parent_resource_id": "NULL::VARCHAR",
        "split_line_item_split_cost": "NULL::DOUBLE",
        "split_line_item_unused_cost": "NULL::DOUBLE",
    }
    exprs = []
    for name, typ in CUR2_COLUMNS:
        e = special.get(name, name)
        if typ == "timestamp":
            e = f"strftime({e}, '%Y-%m-%dT%H:%M:%S.000Z')" if csv else f"timezone('UTC', {e})"
        elif typ.startswith("map<"):
            e = f"to_json({e})" if csv else e
        elif typ == "double":
            e = f"({e})::DOUBLE"
        elif name in _CUR2_RATE_AS_STRING:
            e = f"({e})::VARCHAR"
        exprs.append(f"{e} AS {name}")
    return "SELECT\n  " + ",\n  ".join(exprs) + f"\nFROM ({_base_sql(lo, hi, seed, billing_period, growth)})"
