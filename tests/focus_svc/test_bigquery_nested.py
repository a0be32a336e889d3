"""The BigQuery forms of DuckDB's lists, MAPs and JSON parsing (focus_svc/bigquery_nested.py).

Each DuckDB expression runs on DuckDB and, rewritten as the conversion rewrites it, on bqemulator;
the two values must be the same. The refusals (a construct with no BigQuery form) are checked
without the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pytest
import sqlglot
from google.api_core import exceptions as google_errors
from google.cloud import bigquery

from cloudact_cli.bigquery_emulator import bigquery_emulator, bqemulator_available
from cloudact_shared.errors import FailedPrecondition
from focus_svc import bigquery as bigquery_conversion
from focus_svc import bigquery_sql, conversion


def _bigquery(duckdb_sql: str) -> str:
    """A DuckDB query as the conversion writes it for BigQuery (checked to be BigQuery's)."""
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb").transform(bigquery_sql._rewrite)
    sql = tree.sql(dialect="bigquery", unsupported_level=sqlglot.ErrorLevel.RAISE)
    bigquery_sql._check_bigquery(sql)
    return sql


def _comparable(value: Any) -> Any:
    """DuckDB's and BigQuery's Python values alike: a MAP (DuckDB dict, BigQuery key/value records)
    as a dict, decimals without trailing zeros."""
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, list) and value and all(isinstance(e, dict) and set(e) == {"key", "value"} for e in value):
        return {e["key"]: _comparable(e["value"]) for e in value}
    if isinstance(value, list):
        return [_comparable(e) for e in value]
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    return value


# name -> (DuckDB expression, how to compare: "value", "json" (parsed JSON text) or "set" (a list in
# any order)). The expression reads the columns of INPUTS: bqemulator cannot UNNEST a literal array of
# structs (the conversion's lists are columns or computed, never literals).
CASES: dict[str, tuple[str, str]] = {
    "list_transform keeps the order": ("list_transform(numbers, lambda x: x * 10)", "value"),
    "list_transform to structs": ("list_transform(words, lambda k: {'key': k, 'value': upper(k)})", "value"),
    "list_filter of structs, a NULL condition drops": ("list_filter(records, lambda c: c.t <> 'b')", "value"),
    "nested lambdas with the same parameter": (
        "list_transform(list_filter(numbers, lambda c: c % 2 = 0), lambda c: c + 1)",
        "value",
    ),
    "list_distinct drops NULLs": ("list_distinct(words)", "set"),
    "list_sum": ("list_sum(list_transform(numbers, lambda x: x * 1.5))", "value"),
    "list_sum of an empty list is NULL": ("list_sum(list_filter(numbers, lambda x: x > 50))", "value"),
    "first element": ("list_filter(numbers, lambda x: x > 1)[1]", "value"),
    "first of none is NULL": ("list_filter(numbers, lambda x: x > 50)[1]", "value"),
    "last element's field": ("records[-1].v", "value"),
    "second to last": ("numbers[-2]", "value"),
    "computed index": ("numbers[1 + 1]", "value"),
    "index out of range is NULL": ("numbers[9]", "value"),
    "MAP subscript": ("tags['b']", "value"),
    "MAP subscript of a missing key is NULL": ("tags['z']", "value"),
    "map_concat: later wins, first position kept, NULL as empty": (
        "CAST(to_json(map_concat(tags, CAST(NULL AS MAP(VARCHAR, VARCHAR)), more_tags)) AS VARCHAR)",
        "value",
    ),
    "empty MAP literal": ("cardinality(CAST(MAP {} AS MAP(VARCHAR, VARCHAR)))", "value"),
    "map_entries / map_from_entries round trip": (
        "map_from_entries(list_transform(map_entries(tags), lambda e: {'key': 'x_' || e.key, 'value': e.value}))",
        "value",
    ),
    "JSON object to MAP(VARCHAR, JSON) and back": (
        "CAST(to_json(map_from_entries(list_transform(map_entries(json_transform(details, '\"MAP(VARCHAR, JSON)\"')), "
        "lambda e: {'key': 'x_' || e.key, 'value': e.value}))) AS VARCHAR)",
        "json",
    ),
    "JSON object to MAP(VARCHAR, VARCHAR[])": (
        "map_from_entries(list_transform(map_entries(json_transform(label_lists, '\"MAP(VARCHAR, VARCHAR[])\"')), "
        "lambda e: {'key': e.key, 'value': array_to_string(e.value, ',')}))",
        "value",
    ),
    "JSON array to a list of structs": (
        'json_transform(credits, \'[{"amount": "DECIMAL(38,12)", "type": "VARCHAR", "on": "BOOLEAN"}]\')',
        "value",
    ),
    "json_valid of JSON": ("json_valid(details)", "value"),
    "json_valid of no JSON": ("json_valid('{bad')", "value"),
    "json_valid of NULL": ("json_valid(CAST(NULL AS VARCHAR))", "value"),
    "cardinality": ("cardinality(more_tags)", "value"),
}
INPUTS = """
    [3, 1, 2, 4] AS numbers,
    ['b', 'a', NULL, 'b', 'c'] AS words,
    [{'t': 'a', 'v': 1}, {'t': NULL, 'v': 2}, {'t': 'b', 'v': 3}] AS records,
    MAP {'a': '1', 'b': '2'} AS tags,
    MAP {'c': '4', 'b': '3'} AS more_tags,
    '{"a": 1.5, "b": {"z": [1, 2]}, "c": "s", "d": null}' AS details,
    '{"env": ["prod", "eu"], "n": [1, null, true], "s": "x"}' AS label_lists,
    '[{"amount": -0.125, "type": "PROMOTION", "on": true}, {"amount": 2}]' AS credits
"""


@pytest.fixture(scope="module")
def bq() -> Iterator[bigquery.Client]:
    assert bqemulator_available(), "bqemulator is not installed: run `make install` (it builds .venv-bqemulator)"
    with bigquery_emulator() as emulator:
        yield emulator.client()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_bigquery_form_computes_what_duckdb_does(name: str, bq: bigquery.Client) -> None:
    expression, compare = CASES[name]
    sql = f"SELECT {expression} AS v FROM (SELECT {INPUTS}) AS inputs"
    duck = duckdb.connect().execute(sql).fetchone()
    assert duck is not None
    in_bigquery = [dict(row.items())["v"] for row in bq.query(_bigquery(sql)).result()]
    expected, got = _comparable(duck[0]), _comparable(in_bigquery[0])
    if compare == "json":
        assert json.loads(got) == json.loads(expected)
    elif compare == "set":
        assert sorted(got) == sorted(expected) and len(got) == len(set(got))
    else:
        assert got == expected


def test_lambdas_become_ordered_array_subqueries() -> None:
    sql = _bigquery("SELECT list_filter(l, lambda c: c.type IS NULL) AS v")
    assert sql == (
        "SELECT ARRAY(SELECT c FROM UNNEST(l) AS c WITH OFFSET AS cloudact_element_at "
        "WHERE (c.type IS NULL) ORDER BY cloudact_element_at) AS v"
    )


@pytest.mark.parametrize(
    ("expression", "refused"),
    [
        ("list_transform(l, lambda x, i: x + i)", "only a lambda of one parameter"),
        ("to_json(s)", "to_json has a BigQuery form for a MAP only"),
        ("json_transform(t, '\"MAP(VARCHAR, MAP(VARCHAR, INTEGER))\"')", "no BigQuery form"),
        ("json_transform(t, s)", "literal structure"),
        ("MAP {'a': 'x'}['a']", "a MAP literal of key: value pairs only"),
        ("list_reverse(l)", "DuckDB functions without a BigQuery form: list_reverse"),
    ],
)
def test_a_construct_without_a_bigquery_form_is_refused(expression: str, refused: str) -> None:
    with pytest.raises(ValueError, match=refused):
        _bigquery(f"SELECT {expression} AS v")


def test_every_mapping_has_a_bigquery_form() -> None:
    assert bigquery_conversion.providers_without_bigquery_form() == {}


def test_a_mapping_without_a_bigquery_form_fails_its_own_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mapping whose SQL has no BigQuery form makes its branch of the procedure raise
    NO_BIGQUERY_FORM (the others still convert), which the CALL reports as FailedPrecondition."""
    select_sql = conversion.focus_select_sql

    def with_unsupported(provider: str, relation: str) -> str:
        sql = select_sql(provider, relation)
        return sql.replace("SELECT", "SELECT list_reverse([1]) AS unsupported,", 1) if provider == "oci" else sql

    monkeypatch.setattr(conversion, "focus_select_sql", with_unsupported)
    bigquery_conversion._procedure_body.cache_clear()
    bigquery_conversion.providers_without_bigquery_form.cache_clear()
    try:
        body = bigquery_conversion.procedure_body("acme-billing", "acme_prod", ["aws", "oci"])
        missing = bigquery_conversion.providers_without_bigquery_form()
    finally:
        bigquery_conversion._procedure_body.cache_clear()
        bigquery_conversion.providers_without_bigquery_form.cache_clear()
    assert list(missing) == ["oci"] and "list_reverse" in missing["oci"]
    assert "SELECT ERROR('NO_BIGQUERY_FORM: oci: DuckDB functions without a BigQuery form: list_reverse')" in body
    assert "provider = 'aws' THEN\n      INSERT INTO" in body and "provider = 'oci' THEN\n      INSERT" not in body

    refused = google_errors.BadRequest("NO_BIGQUERY_FORM: oci: ... list_reverse")  # type: ignore[no-untyped-call]
    error = bigquery_conversion._mapped(refused, "run-1")
    assert isinstance(error, FailedPrecondition) and error.reason == "NO_BIGQUERY_FORM"
