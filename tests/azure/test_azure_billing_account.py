"""The billing account of EA and MCA cost details is the export's billing account (or profile), by name.

EA files carry both ``BillingAccountName`` (the enrollment) and ``AccountName`` (an enrollment
account inside it); FOCUS BillingAccountName is the former.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq

from cloudact_cli.convert import convert_files
from tests.conftest import EA_ACTUAL


def test_ea_billing_account_name_is_the_enrollment_not_the_enrollment_account(tmp_path: Path) -> None:
    with EA_ACTUAL.open(encoding="utf-8-sig", newline="") as fh:
        source = list(csv.DictReader(fh))
    assert {r["AccountName"] for r in source} != {r["BillingAccountName"] for r in source}
    output = tmp_path / "focus.parquet"
    convert_files("azure", [EA_ACTUAL], output)
    rows = pq.read_table(output, columns=["BillingAccountId", "BillingAccountName"]).to_pylist()
    expected = {(r["BillingAccountId"], r["BillingAccountName"]) for r in source}
    assert {(r["BillingAccountId"], r["BillingAccountName"]) for r in rows} == expected
