"""Synthetic AWS billing exports (legacy CUR CSV and CUR 2.0 Data Exports) at any size, fast.

Rows are produced by one DuckDB query over ``range(rows)``: every value is a pure function of the
row number and the seed (``hash(row, seed, k)``), so a file is byte-for-byte reproducible for a seed
and DuckDB streams it to disk with bounded memory (1M legacy rows in a few seconds, 10M rows stay
under ~1 GB of RAM).

Row mix (cycle of 100 rows): 70 Usage (AWS services), 2 Usage sold through AWS Marketplace,
8 DiscountedUsage (RI-covered), 7 SavingsPlanCoveredUsage, 7 SavingsPlanNegation (each one mirrors
the covered row seven rows earlier: same usage, negated cost), 1 RIFee, 1 SavingsPlanRecurringFee,
1 Tax, 1 Credit or Refund, 1 EdpDiscount or BundledDiscount, 1 Fee (RI upfront purchase). Costs are
consistent: ``UnblendedCost = UnblendedRate x UsageAmount`` and
``publicOnDemandCost = publicOnDemandRate x UsageAmount`` on usage rows (rounded to 10 decimals);
``reservation/EffectiveCost = AmortizedUpfrontCostForUsage + RecurringFeeForUsage`` on
DiscountedUsage; ``SavingsPlanEffectiveCost = SavingsPlanRate x UsageAmount`` on covered rows.

The month reads as one company's bill (``rows.py``): usage rows pick SKUs by catalogue weight
(EC2 first, then storage, databases, network), accounts and regions by weight, tag sets unevenly
(a team's main application most, ~1 in 7 rows untagged). Commitment fees are sized to the usage
they cover, in expectation over a cycle: a reservation costs 65% of on-demand (30% amortized
upfront + 35% recurring), the RIFee line bills the reserved hours behind the cycle's DiscountedUsage
plus a 1-6% unused share (``reservation/UnusedQuantity``, its effective cost), the
SavingsPlanRecurringFee line the commitment its covered rows use (at 72% of on-demand) plus a 1-6%
unused share, and the Fee line a rolling purchase of about one month's amortized upfront. Tax is
3-8% of a cycle's usage, credits and refunds a few percent. ``growth`` (``generate_cur2``) shifts a
month: compute usage rows are picked ``1 + growth`` times as often and Amazon SageMaker (catalogue
weight 0) ramps up with it; commitments do not move. With the same seed, months share accounts and
resources, so two months of one company differ by their mix and row count.

Legacy CUR CSV (:func:`generate_legacy_cur_csv`): exactly the 94 columns, names and order of the real
anonymised legacy export in ``tests/data/samples/aws`` (:data:`LEGACY_CUR_COLUMNS`). That header has
no ``lineItem/ResourceId``, ``reservation/ReservationARN`` or ``resourceTags/*`` column, so those
values exist only in the CUR 2.0 output; RI rows carry ``reservation/SubscriptionId`` instead.
Timestamps are ISO UTC (``2025-01-01T00:00:00.000Z``; ``identity/TimeInterval`` as
``2025-01-01T00:00:00Z/2025-01-02T00:00:00Z``). ``header="athena"`` writes the same data under the
snake_case names AWS uses for Athena-integrated legacy CUR (``bill/BillType`` ->
``bill_bill_type``), which is what the FinOps Foundation's focus-converter expects.

CUR 2.0 Data Exports delivery (:func:`generate_cur2`), laid out as AWS delivers it::

    {out_dir}/{prefix}/{export_name}/data/BILLING_PERIOD=YYYY-MM/{export_name}-00001.snappy.parquet
    {out_dir}/{prefix}/{export_name}/data/BILLING_PERIOD=YYYY-MM/{export_name}-00002.snappy.parquet
    ...                                                   (or {export_name}-0000N.csv.gz)
    {out_dir}/{prefix}/{export_name}/metadata/BILLING_PERIOD=YYYY-MM/{export_name}-Manifest.json

The manifest is written last (it is the commit marker) and holds ``version``, ``exportArn``,
``assemblyId``, ``executionId``, ``exportName``, ``exportDataFormat`` (``parquet``|``textORcsv``),
``compression`` (``PARQUET``|``GZIP``), ``billingPeriod`` {``start``, ``end``}, ``columns``
[{``name``, ``type``}], ``dataFiles`` (``s3://{bucket}/{prefix}/{export_name}/data/...`` for every
data file) and ``reportDataRowCount``. Columns use CUR 2.0 snake_case names
(``sql/schemas/cloud_aws_billing_raw_daily.json``). In Parquet ``product``, ``resource_tags`` and
``cost_category`` are ``MAP<string,string>``, ``discount`` is ``MAP<string,double>``, timestamps are
UTC Parquet timestamps and costs are doubles, as AWS writes them; in CSV the maps are JSON strings.

``resource_tags`` keys follow CUR 2.0's normalisation, not legacy CUR's: user tags get a ``user_``
prefix and AWS-generated tags an ``aws_`` prefix, lower snake_case (``user:Team`` ->
``user_team``, ``aws:createdBy`` -> ``aws_created_by``), as in AWS's CUR 2.0 Athena examples
(``resource_tags['user_cost_center']``).
"""

from pathlib import Path

from cloudact_providers.aws.synthetic.catalog import CUR2_COLUMNS, LEGACY_CUR_COLUMNS, LINE_ITEM_TYPES
from cloudact_providers.aws.synthetic.writers import (
    Cur2Export,
    athena_column_name,
    generate_cur2,
    generate_legacy_cur_csv,
)

__all__ = [
    "CUR2_COLUMNS",
    "LEGACY_CUR_COLUMNS",
    "LINE_ITEM_TYPES",
    "Cur2Export",
    "athena_column_name",
    "generate",
    "generate_cur2",
    "generate_legacy_cur_csv",
]


def generate(directory: Path, rows: int) -> Path:
    """A legacy CUR CSV of ``rows`` line items in ``directory`` (the provider's ``SyntheticGenerator``)."""
    path = directory / f"aws-legacy-cur-{rows}.csv"
    return path if path.exists() else generate_legacy_cur_csv(path, rows)
