"""The FOCUS conversion inside BigQuery: the stored procedure ``sp_cloud_1_convert_to_focus``.

Each organisation's dataset holds the procedure, created from the DuckDB SQL of sql/ (translated by
``focus_svc.bigquery_sql``) for every registered provider. ``BigQueryConversion.ensure_procedure``
creates or replaces it when its text changed (the text's hash is the routine's description), and
``call`` CALLs it under a job id derived from the run, so a retried call joins the job already
running instead of converting twice.

The procedure (``procedure_sql``) does what FocusConverter does on the embedded path (it fails with
``SELECT ERROR(...)``, BigQuery's statement error, where RAISE would do: bqemulator answers an
uncaught RAISE with a 500 that loses the message):
  1. counts the run's raw slice (provider's raw table, the credential's rows of the periods) and
     raises ``STALE_RUN`` when some of its rows belong to another run;
  2. in one transaction, deletes the FOCUS slice (provider, credential, BillingPeriodStart's date in
     the periods), inserts the converted rows, and rolls back with an error when an inserted row's
     BillingPeriodStart falls outside the periods (it would escape the slice and duplicate on a re-run);
  3. returns the raw rows read and the FOCUS rows written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Protocol, runtime_checkable

import sqlglot
from google.api_core import exceptions as google_errors
from google.cloud import bigquery
from sqlglot import exp

from cloudact_shared.errors import FailedPrecondition, InvalidArgument, Unavailable
from cloudact_shared.naming import FOCUS_TABLE, raw_table_name
from cloudact_shared.storage import load_schema
from cloudact_shared.storage.bigquery import VERSIONS_TABLE, version_bump_sql
from focus_svc import bigquery_sql, conversion

PROCEDURE = "sp_cloud_1_convert_to_focus"
STALE_RUN = "STALE_RUN"
OUTSIDE_PERIODS = "FOCUS_ROW_OUTSIDE_PERIODS"
NO_BIGQUERY_FORM = "NO_BIGQUERY_FORM"
_HASH_PREFIX = "cloudact-sha256:"
_JOB_ID = "cloudact_{run}_{step}_{key}"


@runtime_checkable
class ProcedureWarehouse(Protocol):
    """What the BigQuery conversion needs of the warehouse (the BigQuery TableStore provides it)."""

    @property
    def client(self) -> bigquery.Client:
        """The BigQuery client the store itself uses."""
        ...

    @property
    def project(self) -> str:
        """The project holding the organisations' datasets."""
        ...

    def dataset_id(self, dataset: str) -> str:
        """The BigQuery dataset of a store dataset name (``{org}_prod``): the prefix applied."""
        ...


@dataclass(frozen=True)
class CallResult:
    """What one CALL of the procedure did."""

    raw_rows_read: int
    focus_rows_written: int


def _q(*parts: str) -> str:
    """A BigQuery path ``a.b.c``, quoted as one identifier (project ids hold '-')."""
    return exp.to_identifier(".".join(parts), quoted=True).sql(dialect="bigquery")


def _identifier(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="bigquery")


def _string(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="bigquery")


ARGUMENTS: tuple[tuple[str, str], ...] = (
    ("provider", "STRING"),
    ("credential_id", "STRING"),
    ("run_id", "STRING"),
    ("periods", "ARRAY<DATE>"),
)


def procedure_sql(project: str, dataset_id: str, providers: Sequence[str] | None = None) -> str:
    """``CREATE OR REPLACE PROCEDURE`` of the conversion for ``providers`` (default: every mapping)."""
    arguments = ", ".join(f"{name} {kind}" for name, kind in ARGUMENTS)
    body = procedure_body(project, dataset_id, providers)
    return f"CREATE OR REPLACE PROCEDURE {_q(project, dataset_id, PROCEDURE)}({arguments})\nBEGIN\n{body}\nEND"


def procedure_body(project: str, dataset_id: str, providers: Sequence[str] | None = None) -> str:
    """The statements of the procedure (between its BEGIN and END), for ``providers`` (default: all).

    Cached: translating every mapping takes seconds, and the SQL files do not change while running.
    """
    return _procedure_body(project, dataset_id, None if providers is None else tuple(sorted(set(providers))))


@cache
def _procedure_body(project: str, dataset_id: str, providers: tuple[str, ...] | None) -> str:
    slugs = sorted(conversion.mappings() if providers is None else providers)
    focus = _q(project, dataset_id, FOCUS_TABLE)
    columns = ", ".join(_identifier(c) for c in load_schema(FOCUS_TABLE).column_names)
    focus_slice = (
        "x_source_provider = provider AND x_credential_id = credential_id "
        "AND DATE(BillingPeriodStart) IN UNNEST(periods)"
    )
    outside = (
        f"(SELECT COUNT(*) FROM {focus} WHERE x_source_provider = provider AND x_credential_id = credential_id "
        "AND x_run_id = run_id AND DATE(BillingPeriodStart) NOT IN UNNEST(periods))"
    )
    counts: list[str] = []
    inserts: list[str] = []
    for slug in slugs:
        raw = _q(project, dataset_id, raw_table_name(slug))
        # The raw columns by name, not *: bqemulator expands * without the REPEATED (MAP) columns.
        raw_columns = ", ".join(_identifier(c) for c in load_schema(raw_table_name(slug)).column_names)
        raw_slice = (
            f"(SELECT {raw_columns} FROM {raw} "
            "WHERE x_credential_id = credential_id AND billing_period IN UNNEST(periods))"
        )
        keyword = "ELSEIF" if counts else "IF"
        try:
            select = bigquery_sql.focus_select(slug, sqlglot.parse_one(raw_slice, read="bigquery"))
        except (ValueError, sqlglot.errors.SqlglotError) as error:
            # A mapping whose SQL has no BigQuery form yet fails its own CALLs, not the others'.
            counts.append(
                f"  {keyword} provider = {_string(slug)} THEN\n"
                f"    SELECT ERROR({_string(f'{NO_BIGQUERY_FORM}: {slug}: {error}'[:1000])});"
            )
            continue
        counts.append(
            f"  {keyword} provider = {_string(slug)} THEN\n"
            f"    SET raw_rows = (SELECT COUNT(*) FROM {raw_slice});\n"
            # Two scans where one SET (a, b) = (SELECT AS STRUCT ...) would do: bqemulator reads the
            # struct as one column.
            f"    SET foreign_rows = (SELECT COUNTIF(x_run_id <> run_id) FROM {raw_slice});"
        )
        inserts.append(
            f"    {'ELSEIF' if inserts else 'IF'} provider = {_string(slug)} THEN\n"
            f"      INSERT INTO {focus} ({columns})\n{select};"
        )
    inserted = "\n".join([*inserts, "    END IF;"]) if inserts else ""
    return f"""  DECLARE raw_rows INT64 DEFAULT 0;
  DECLARE foreign_rows INT64 DEFAULT 0;
  DECLARE outside_before INT64 DEFAULT 0;
  DECLARE written_rows INT64 DEFAULT 0;
{chr(10).join(counts)}
  ELSE
    SELECT ERROR(CONCAT('NO_FOCUS_MAPPING: no FOCUS mapping for provider ', provider));
  END IF;
  IF foreign_rows > 0 THEN
    SELECT ERROR(CONCAT('{STALE_RUN}: the raw slice holds ', CAST(foreign_rows AS STRING),
      ' rows of another run than ', run_id, '; a newer run replaced it, so this conversion was not applied'));
  END IF;
  BEGIN TRANSACTION;
    DELETE FROM {focus} WHERE {focus_slice};
    SET outside_before = {outside};
{inserted}
    IF {outside} > outside_before THEN
      ROLLBACK TRANSACTION;
      SELECT ERROR('{OUTSIDE_PERIODS}: FOCUS row outside the run''s billing periods');
    END IF;
    SET written_rows = (SELECT COUNT(*) FROM {focus} WHERE {focus_slice} AND x_run_id = run_id);
    {version_bump_sql(_q(project, dataset_id, VERSIONS_TABLE), _string(FOCUS_TABLE))};
  COMMIT TRANSACTION;
  SELECT raw_rows, written_rows;"""


def _argument(name: str, kind: str) -> bigquery.RoutineArgument:
    if kind.startswith("ARRAY<"):
        element = bigquery.StandardSqlDataType(type_kind=bigquery.StandardSqlTypeNames[kind[6:-1]])
        data_type = bigquery.StandardSqlDataType(
            type_kind=bigquery.StandardSqlTypeNames.ARRAY, array_element_type=element
        )
    else:
        data_type = bigquery.StandardSqlDataType(type_kind=bigquery.StandardSqlTypeNames[kind])
    return bigquery.RoutineArgument(name=name, data_type=data_type)


def text_hash(text: str) -> str:
    """What the routine's description holds: the hash of the DDL that created it."""
    return _HASH_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def job_id(run_id: str, provider: str, credential_id: str, periods: Sequence[date]) -> str:
    """The CALL's job id: the same for a retry of the same conversion, another for any other one."""
    key = hashlib.sha256(
        "\0".join([provider, credential_id, *sorted(p.isoformat() for p in periods)]).encode()
    ).hexdigest()[:16]
    return _JOB_ID.format(run=run_id.replace("-", ""), step=PROCEDURE, key=key)


class BigQueryConversion:
    """Creates (when changed) and CALLs ``sp_cloud_1_convert_to_focus`` in an organisation's dataset."""

    def __init__(self, warehouse: ProcedureWarehouse, *, providers: Sequence[str] | None = None) -> None:
        """``providers``: the ones the procedure converts (default: every registered mapping)."""
        self._warehouse = warehouse
        self._providers = None if providers is None else tuple(sorted(providers))

    def ensure_procedure(self, dataset: str) -> bool:
        """Creates or replaces the procedure when its text differs from the one in place; True if it did.

        Through the Routines API rather than a CREATE PROCEDURE job: the hash goes in with the body in
        one request (bqemulator reads no OPTIONS in CREATE PROCEDURE), and bqemulator's DDL parser
        ends a procedure's body at the first END it meets (a CASE's, an END IF).
        """
        client, project = self._warehouse.client, self._warehouse.project
        dataset_id = self._warehouse.dataset_id(dataset)
        body = procedure_body(project, dataset_id, self._providers)
        digest = text_hash(procedure_sql(project, dataset_id, self._providers))
        routine = bigquery.Routine(
            bigquery.RoutineReference.from_string(f"{project}.{dataset_id}.{PROCEDURE}"),
            type_="PROCEDURE",
            language="SQL",
            body=body,
            arguments=[_argument(name, kind) for name, kind in ARGUMENTS],
            description=digest,
        )
        try:
            if client.get_routine(routine.reference).description == digest:
                return False
        except google_errors.NotFound:
            try:
                client.create_routine(routine)
                return True
            except google_errors.Conflict:
                pass  # created meanwhile by another converter: replaced below, as if it was there
        # Routines' update is a PUT: body, arguments and hash are replaced together.
        client.update_routine(routine, ["type_", "language", "body", "arguments", "description"])
        return True

    def call(self, dataset: str, provider: str, credential_id: str, run_id: str, periods: Sequence[date]) -> CallResult:
        """CALLs the procedure for the run's slice; a retry with the same arguments joins the first job.

        Raises:
            InvalidArgument: no periods, or a provider without a mapping.
            FailedPrecondition: ``STALE_RUN`` (the slice holds another run's rows) or
                ``FOCUS_ROW_OUTSIDE_PERIODS`` (rolled back: the previous FOCUS slice is kept).
            Unavailable: BigQuery failed the job for another reason.
        """
        if not periods:
            raise InvalidArgument("billing_periods is empty: nothing to convert")
        if provider not in conversion.mappings():
            raise InvalidArgument(f"no FOCUS mapping for provider {provider!r}", reason="NO_FOCUS_MAPPING")
        client = self._warehouse.client
        # Literals, not query parameters: bqemulator binds no parameters inside a script (CALL is
        # one), and these are ids and dates, quoted by sqlglot. See sql/procedures/cloud/bigquery/README.md.
        arguments = ", ".join(
            [
                _string(provider),
                _string(credential_id),
                _string(run_id),
                # In parentheses: bqemulator splits a CALL's arguments at every comma outside them.
                f"([{', '.join(f'DATE {_string(p.isoformat())}' for p in sorted(set(periods)))}])",
            ]
        )
        sql = f"CALL {_q(self._warehouse.project, self._warehouse.dataset_id(dataset), PROCEDURE)}({arguments})"
        ident = job_id(run_id, provider, credential_id, periods)
        job: bigquery.QueryJob | bigquery.LoadJob | bigquery.CopyJob | bigquery.ExtractJob | bigquery.UnknownJob
        try:
            # A retry waits for the first attempt's job rather than running again. Looked up first:
            # bqemulator runs a second job under a used id where BigQuery answers 409 (handled too).
            job = client.get_job(ident)
        except google_errors.NotFound:
            try:
                job = client.query(sql, job_id=ident, job_retry=None)
            except google_errors.Conflict:
                job = client.get_job(ident)
        if not isinstance(job, bigquery.QueryJob):
            raise Unavailable(f"job {ident} is no query job: not a CALL of {PROCEDURE}")
        try:
            rows = list(job.result())
        except google_errors.GoogleAPICallError as error:
            raise _mapped(error, run_id) from None
        if not rows:
            raise Unavailable(f"{PROCEDURE} returned no result for run {run_id}")
        return CallResult(int(rows[0][0]), int(rows[0][1]))


def _mapped(error: google_errors.GoogleAPICallError, run_id: str) -> Exception:
    message = str(getattr(error, "message", error))
    if STALE_RUN in message:
        return FailedPrecondition(
            f"the raw slice holds rows of another run than {run_id}; "
            "a newer run replaced it, so this conversion was not applied",
            reason=STALE_RUN,
        )
    if OUTSIDE_PERIODS in message:
        return FailedPrecondition(
            "a FOCUS row falls outside the run's billing periods; the previous FOCUS slice is kept",
            reason=OUTSIDE_PERIODS,
        )
    if NO_BIGQUERY_FORM in message:
        return FailedPrecondition(
            "this provider's FOCUS mapping has no BigQuery form yet (sql/procedures/cloud/bigquery/README.md)",
            reason=NO_BIGQUERY_FORM,
        )
    if "NO_FOCUS_MAPPING" in message:
        return InvalidArgument("no FOCUS mapping for this provider in the procedure", reason="NO_FOCUS_MAPPING")
    return Unavailable(f"{PROCEDURE} failed in BigQuery: {message}")


__all__ = ["BigQueryConversion", "CallResult", "ProcedureWarehouse", "job_id", "procedure_sql"]


@cache
def providers_without_bigquery_form() -> dict[str, str]:
    """Provider -> why its mapping has no BigQuery form yet (its CALLs fail with NO_BIGQUERY_FORM).

    Read from the translation itself, so a mapping that gains a form leaves this list by itself.
    """
    missing: dict[str, str] = {}
    stand_in = sqlglot.parse_one("(SELECT 1 AS x)", read="bigquery")
    for slug in sorted(conversion.mappings()):
        try:
            bigquery_sql.focus_select(slug, stand_in)
        except (ValueError, sqlglot.errors.SqlglotError) as error:
            missing[slug] = str(error).splitlines()[0][:200]
    return missing
