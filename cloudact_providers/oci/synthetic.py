"""Synthetic OCI cost reports (``reports/cost-csv``) at any size, for tests and benchmarks.

The header is the cost report's (its ``lineItem/``, ``product/``, ``usage/`` and ``cost/`` columns in
Oracle's order, then ``tags/<namespace>.<key>`` columns). The rows are invented: one template per
kind of usage (compute OCPUs and memory, block and object storage, outbound data transfer, an
autonomous database), repeated to size with the line's reference numbers and resource made unique
per copy (``cloudact_providers.synthetic.scale_file``), so no copy reads as a correction of another.
Usage hours are inside November 2023.
"""

from __future__ import annotations

from pathlib import Path

from cloudact_providers.synthetic import scale_file, write_csv

HEADER = [
    "lineItem/referenceNo",
    "lineItem/tenantId",
    "lineItem/intervalUsageStart",
    "lineItem/intervalUsageEnd",
    "product/service",
    "product/compartmentId",
    "product/compartmentName",
    "product/region",
    "product/availabilityDomain",
    "product/resourceId",
    "usage/billedQuantity",
    "usage/billedQuantityOverage",
    "cost/subscriptionId",
    "cost/productSku",
    "product/Description",
    "cost/unitPrice",
    "cost/unitPriceOverage",
    "cost/myCost",
    "cost/myCostOverage",
    "cost/currencyCode",
    "cost/billingUnitReadable",
    "cost/skuUnitDescription",
    "cost/overageFlag",
    "lineItem/isCorrection",
    "lineItem/backreferenceNo",
    "tags/Oracle-Tags.CreatedBy",
    "tags/Acme.Team",
]
"""The cost report's columns, in its order, and two tag columns."""

_TENANCY = "ocid1.tenancy.oc1..aaaaaaaaacmesynthetictenancy0000000000000000000000000000"
_REGION = "eu-frankfurt-1"
_COMMON = {
    "lineItem/tenantId": _TENANCY,
    "product/compartmentId": "ocid1.compartment.oc1..aaaaaaaaacmesyntheticprod000000000000000000000000000",
    "product/compartmentName": "acme-prod",
    "product/region": _REGION,
    "cost/subscriptionId": "ocid1.organizationssubscription.oc1.eu-frankfurt-1.aaaaaaaaacmesynthetic0000",
    "cost/currencyCode": "USD",
    "cost/overageFlag": "false",
    "lineItem/isCorrection": "false",
    "tags/Oracle-Tags.CreatedBy": "default/ops@acme.example",
}


def _line(
    number: int, when: tuple[int, int], service: str, resource: str, usage: tuple[str, str, str], sku: tuple[str, ...]
) -> dict[str, str]:
    """One cost report line: ``when`` is (day of November 2023, UTC hour), ``usage`` (quantity, unit
    price, cost), ``sku`` (code, description, billing unit, unit description)."""
    (day, hour), (quantity, price, cost) = when, usage
    code, description, billing_unit, unit = sku
    return {
        **_COMMON,
        "lineItem/referenceNo": f"5ac0ffee{number:024x}",
        # Oracle's own spellings: the start without seconds, the end with them.
        "lineItem/intervalUsageStart": f"2023-11-{day:02d}T{hour:02d}:00Z",
        "lineItem/intervalUsageEnd": f"2023-11-{day:02d}T{hour + 1:02d}:00:00Z",
        "product/service": service,
        "product/availabilityDomain": "fra-ad-1" if service in ("COMPUTE", "BLOCK_STORAGE") else "",
        "product/resourceId": resource,
        "usage/billedQuantity": quantity,
        "cost/productSku": code,
        "product/Description": description,
        "cost/unitPrice": price,
        "cost/myCost": cost,
        "cost/billingUnitReadable": billing_unit,
        "cost/skuUnitDescription": unit,
        "lineItem/backreferenceNo": str(20_000 + number),
        "tags/Acme.Team": "platform" if number % 2 else "data",
    }


_INSTANCE = f"ocid1.instance.oc1.{_REGION}.acmesyntheticweb1"
_STORAGE_UNIT = ("1 GiB MONTHS STORAGE_SIZE", "GB Months")
TEMPLATES: tuple[dict[str, str], ...] = (
    _line(
        1,
        (6, 8),
        "COMPUTE",
        _INSTANCE,
        ("2", "0.025", "0.05"),
        ("B97384", "Standard - E4 - OCPU", "1 OCPU HOURS", "OCPU Hours"),
    ),
    _line(
        2,
        (6, 8),
        "COMPUTE",
        _INSTANCE,
        ("16", "0.0015", "0.024"),
        ("B97385", "Standard - E4 - Memory", "1 GiB HOURS MEMORY", "GB Hours"),
    ),
    _line(
        3,
        (13, 10),
        "BLOCK_STORAGE",
        f"ocid1.bootvolume.oc1.{_REGION}.acmesyntheticweb1",
        ("0.0625", "0.0255", "0.00159375"),
        ("B91961", "Block Volume - Storage", *_STORAGE_UNIT),
    ),
    _line(
        4,
        (20, 14),
        "OBJECTSTORE",
        "acmesynthetic/backups",
        ("1.5", "0.0255", "0.03825"),
        ("B91628", "Object Storage - Storage", *_STORAGE_UNIT),
    ),
    _line(
        5,
        (21, 5),
        "NETWORK",
        f"ocid1.vnic.oc1.{_REGION}.acmesyntheticweb1",
        ("12.5", "0.0085", "0.10625"),
        ("B88327", "Outbound Data Transfer Zone 1", "1 GiB HOURS DATA_TRANSFERRED", "GB Months"),
    ),
    _line(
        6,
        (27, 22),
        "DATABASE",
        f"ocid1.autonomousdatabase.oc1.{_REGION}.acmesyntheticorders",
        ("1", "0.3226", "0.3226"),
        ("B95702", "Autonomous Transaction Processing - ECPU", "1 ECPU HOURS", "ECPU Hours"),
    ),
)
"""One invented line per kind of usage; every copy of the mix keeps these values but its ids."""


def generate(directory: Path, rows: int) -> Path:
    """A cost report of ``rows`` lines as CSV (the provider's ``SyntheticGenerator``)."""
    seed = write_csv(directory / "oci-cost-report-templates.csv", HEADER, TEMPLATES)
    vary = ("lineItem/referenceNo", "lineItem/backreferenceNo", "product/resourceId")
    return scale_file(seed, rows, directory / f"oci-cost-report-{rows}.csv", vary=vary)
