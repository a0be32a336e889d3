"""FOCUS 1.3 "MUST be null when ..." rules, applied by the shared projection so no mapping can forget one.

The rules are written here from the rule texts of the FOCUS 1.3 rules model (the vendored
tests/conformance/rules/model-1.3.json), independently of the wrapper's SQL. Every conditional null
rule of the model is either in ``NULL_RULES`` (a condition on the row's own columns, so the wrapper
applies it) or in ``NOT_FROM_COLUMNS`` with why no projection can decide it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pytest

from focus_svc import conversion
from tests.conftest import REPO
from tests.focus_svc.wrapped import REQUIRED, create_raw, wrapped_rows

Row = dict[str, Any]
MODEL = json.loads((REPO / "tests" / "conformance" / "rules" / "model-1.3.json").read_text())["ModelRules"]


def _tax(row: Row) -> bool:
    return bool(row["ChargeCategory"] == "Tax")


def _null(column: str) -> Callable[[Row], bool]:
    return lambda row: row[column] is None


def _not_measured(row: Row) -> bool:
    # CAU-ConsumedQuantity-C-004-C: not Usage, or Usage and CommitmentDiscountStatus is Unused.
    return bool(row["ChargeCategory"] != "Usage" or row["CommitmentDiscountStatus"] == "Unused")


def _no_commitment_quantity(row: Row) -> bool:
    # CAU-CommitmentDiscountQuantity-C-007-C "in all other cases" than C-004: Usage or Purchase with a
    # CommitmentDiscountId. (The model's condition adds ChargeClass = Correction, which contradicts
    # C-006 "MAY be null when ChargeClass is Correction": a correction keeps its quantity.)
    return row["ChargeCategory"] not in ("Usage", "Purchase") or row["CommitmentDiscountId"] is None


# (rule id, the column that MUST be null, when)
NULL_RULES: list[tuple[str, str, Callable[[Row], bool]]] = [
    ("CAU-SkuId-C-004-C", "SkuId", _tax),
    ("CAU-SkuPriceId-C-004-C", "SkuPriceId", _tax),
    ("CAU-SkuMeter-C-004-C", "SkuMeter", _null("SkuId")),
    ("CAU-SkuPriceDetails-C-004-C", "SkuPriceDetails", _null("SkuPriceId")),
    ("CAU-ListUnitPrice-C-004-C", "ListUnitPrice", _tax),
    ("CAU-ListUnitPrice-C-012-C", "ListUnitPrice", _null("SkuPriceId")),
    ("CAU-ContractedUnitPrice-C-005-C", "ContractedUnitPrice", _tax),
    ("CAU-ContractedUnitPrice-C-014-C", "ContractedUnitPrice", _null("SkuPriceId")),
    ("CAU-PricingCurrencyListUnitPrice-C-004-C", "PricingCurrencyListUnitPrice", _tax),
    ("CAU-PricingCurrencyListUnitPrice-C-011-C", "PricingCurrencyListUnitPrice", _null("SkuPriceId")),
    ("CAU-PricingCurrencyContractedUnitPrice-C-004-C", "PricingCurrencyContractedUnitPrice", _tax),
    ("CAU-PricingCurrencyContractedUnitPrice-C-011-C", "PricingCurrencyContractedUnitPrice", _null("SkuPriceId")),
    ("CAU-PricingQuantity-C-004-C", "PricingQuantity", _tax),
    ("CAU-PricingQuantity-C-011-C", "PricingQuantity", _null("SkuPriceId")),
    ("CAU-PricingCategory-C-003-C", "PricingCategory", _tax),
    ("CAU-PricingCategory-C-012-C", "PricingCategory", _null("SkuPriceId")),
    ("CAU-PricingUnit-C-005-C", "PricingUnit", _null("PricingQuantity")),
    ("CAU-ConsumedQuantity-C-004-C", "ConsumedQuantity", _not_measured),
    ("CAU-ConsumedQuantity-C-009-C", "ConsumedQuantity", _null("SkuPriceId")),
    ("CAU-ConsumedUnit-C-005-C", "ConsumedUnit", _null("ConsumedQuantity")),
    ("CAU-CommitmentDiscountCategory-C-003-C", "CommitmentDiscountCategory", _null("CommitmentDiscountId")),
    ("CAU-CommitmentDiscountName-C-004-C", "CommitmentDiscountName", _null("CommitmentDiscountId")),
    ("CAU-CommitmentDiscountType-C-004-C", "CommitmentDiscountType", _null("CommitmentDiscountId")),
    ("CAU-CommitmentDiscountStatus-C-003-C", "CommitmentDiscountStatus", _null("CommitmentDiscountId")),
    ("CAU-CommitmentDiscountQuantity-C-007-C", "CommitmentDiscountQuantity", _no_commitment_quantity),
    ("CAU-CommitmentDiscountQuantity-C-016-C", "CommitmentDiscountQuantity", _null("SkuPriceId")),
    ("CAU-CommitmentDiscountUnit-C-005-C", "CommitmentDiscountUnit", _null("CommitmentDiscountQuantity")),
    ("CAU-CapacityReservationStatus-C-003-C", "CapacityReservationStatus", _null("CapacityReservationId")),
    ("CAU-RegionName-C-004-C", "RegionName", _null("RegionId")),
    ("CAU-ResourceName-C-004-C", "ResourceName", _null("ResourceId")),
    ("CAU-ResourceType-C-004-C", "ResourceType", _null("ResourceId")),
    ("CAU-SubAccountName-C-004-C", "SubAccountName", _null("SubAccountId")),
    ("CAU-SubAccountType-C-004-C", "SubAccountType", _null("SubAccountId")),
    ("CAU-BillingAccountType-C-004-C", "BillingAccountType", _null("BillingAccountId")),
    ("CAU-AllocatedResourceName-C-004-C", "AllocatedResourceName", _null("AllocatedResourceId")),
]
# The model's other "MUST be null" rules: their condition is a fact about the charge that no column
# states, so only a mapping can know it.
NOT_FROM_COLUMNS = {
    "CAU-AllocatedMethodDetails-C-005-C": "whether the charge is part of a split cost allocation",
    "CAU-AllocatedMethodId-C-004-C": "whether the charge is part of a split cost allocation",
    "CAU-AllocatedResourceId-C-004-C": "whether the charge is part of a split cost allocation",
    "CAU-AllocatedResourceId-C-005-C": "whether the row is the unallocated portion of a split charge",
    "CAU-AllocatedTags-C-003-C": "whether the charge is part of a split cost allocation",
    "CAU-AvailabilityZone-C-003-C": "whether the charge is specific to an availability zone",
    "CAU-CapacityReservationId-C-004-C": "whether the charge relates to a capacity reservation",
    "CAU-ChargeClass-C-003-C": "whether the row corrects an earlier billing period",
    "CAU-CommitmentDiscountId-C-004-C": "whether the charge relates to a commitment discount",
    "CAU-ContractAppliedObject-O-023-C": "whether the charge relates to a contract commitment",
    "CAU-ContractAppliedObject-O-033-C": "whether the charge relates to a contract commitment",
    "CAU-ContractAppliedObject-O-065-C": "a key inside the ContractApplied JSON, not a column",
    "CAU-InvoiceId-C-004-C": "whether the charge is on an invoice",
    "CAU-ResourceId-C-004-C": "whether the charge relates to a resource",
    "CAU-SubAccountId-C-004-C": "whether the charge relates to a sub account",
}
_MUST_BE_NULL = re.compile(r'^"?(\w+)"? MUST be null\b')

# One raw row states every column below; each variant makes some null rules' conditions true.
STATED = {
    "ChargeCategory": "r.category",
    "SkuId": "r.sku",
    "SkuMeter": "'meter'",
    "SkuPriceId": "r.price",
    "SkuPriceDetails": '\'{"x_Term": "OnDemand"}\'',
    "ListUnitPrice": "focus_money(2)",
    "ContractedUnitPrice": "focus_money(1.5)",
    "PricingCurrencyListUnitPrice": "focus_money(2)",
    "PricingCurrencyContractedUnitPrice": "focus_money(1.5)",
    "PricingCategory": "'Committed'",
    "PricingQuantity": "focus_money(r.pricing_quantity)",
    "PricingUnit": "'Hours'",
    "ConsumedQuantity": "focus_money(r.consumed_quantity)",
    "ConsumedUnit": "'Hours'",
    "CommitmentDiscountId": "r.commitment",
    "CommitmentDiscountCategory": "'Usage'",
    "CommitmentDiscountName": "'reservation'",
    "CommitmentDiscountType": "'Reserved'",
    "CommitmentDiscountStatus": "r.status",
    "CommitmentDiscountQuantity": "focus_money(r.commitment_quantity)",
    "CommitmentDiscountUnit": "'Hours'",
    "CapacityReservationId": "r.capacity",
    "CapacityReservationStatus": "'Used'",
    "RegionId": "r.region",
    "RegionName": "'Region'",
    "ResourceId": "r.resource",
    "ResourceName": "'resource'",
    "ResourceType": "'machine'",
    "SubAccountId": "r.sub_account",
    "SubAccountName": "'sub account'",
    "SubAccountType": "'Project'",
    "BillingAccountId": "r.account",
    "AllocatedResourceId": "r.allocated",
    "AllocatedResourceName": "'allocated'",
}
BASE = {
    "category": "Usage",
    "sku": "sku",
    "price": "price",
    "pricing_quantity": "1",
    "consumed_quantity": "1",
    "commitment": "reservation",
    "status": "Used",
    "commitment_quantity": "1",
    "capacity": "capacity",
    "region": "region",
    "resource": "resource",
    "sub_account": "sub",
    "account": "account",
    "allocated": "allocated",
}
VARIANTS: dict[str, dict[str, str | None]] = {
    "priced usage": {},
    "tax with a SKU and a price": {"category": "Tax"},
    "credit": {"category": "Credit"},
    "purchase": {"category": "Purchase"},
    "unused commitment": {"status": "Unused"},
    "no SKU": {"sku": None},
    "no price": {"price": None},
    "no pricing quantity": {"pricing_quantity": None},
    "no consumed quantity": {"consumed_quantity": None},
    "no commitment": {"commitment": None},
    "no commitment quantity": {"commitment_quantity": None},
    "no capacity reservation": {"capacity": None},
    "no region": {"region": None},
    "no resource": {"resource": None},
    "no sub account": {"sub_account": None},
    "no billing account": {"account": None},
    "no allocation": {"allocated": None},
}


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    conversion.prepare(connection)
    yield connection
    connection.close()


def _broken(rows: list[Row]) -> list[tuple[str, int]]:
    """(rule, row index) of every row where a rule's condition holds and its column has a value."""
    return [
        (rule, n)
        for n, row in enumerate(rows)
        for rule, column, when in NULL_RULES
        if when(row) and row[column] is not None
    ]


def test_every_conditional_null_rule_of_the_model_is_applied_or_explained() -> None:
    texts = {rule: MODEL[rule]["ValidationCriteria"]["MustSatisfy"] for rule in MODEL if rule.startswith("CAU-")}
    must_be_null = {rule for rule, text in texts.items() if _MUST_BE_NULL.match(text)}
    applied = {rule for rule, _, _ in NULL_RULES}
    assert sorted(must_be_null - applied - set(NOT_FROM_COLUMNS)) == []
    assert sorted((applied | set(NOT_FROM_COLUMNS)) - must_be_null) == []
    for rule, column, _ in NULL_RULES:
        match = _MUST_BE_NULL.match(texts[rule])
        assert match is not None and match[1] == column, rule


def test_the_wrapper_applies_every_null_rule(con: duckdb.DuckDBPyConnection) -> None:
    create_raw(con, [BASE | variant for variant in VARIANTS.values()])
    rows = wrapped_rows(con, REQUIRED | STATED)
    named = dict(zip(VARIANTS, rows, strict=True))

    # The row: a Tax row keeps its costs, but no SKU, price or quantity.
    tax = named["tax with a SKU and a price"]
    assert (tax["ChargeCategory"], tax["BilledCost"]) == ("Tax", 1)
    assert (tax["SkuId"], tax["SkuPriceId"], tax["SkuMeter"], tax["ListUnitPrice"], tax["PricingUnit"]) == (None,) * 5
    assert _broken(rows) == []
    # Nothing is nulled where no rule applies: the priced usage row keeps every stated column.
    assert [c for c in STATED if named["priced usage"][c] is None] == []
    # The raw unit goes with its FOCUS unit.
    unpriced = [r for r in rows if r["PricingUnit"] is None]
    assert unpriced and [r["x_pricing_unit_raw"] for r in unpriced] == [None] * len(unpriced)


def test_every_sample_satisfies_every_null_rule(focus_outputs: dict[str, list[Row]]) -> None:
    broken = {case: _broken(rows)[:5] for case, rows in focus_outputs.items() if _broken(rows)}
    assert broken == {}
