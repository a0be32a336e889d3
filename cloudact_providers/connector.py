"""The connector seam: what a provider's code implements, and what the pipeline and the CLI call.

A provider's registration (``cloudact_providers.spec.ProviderSpec``) names its implementations as
entry points: a ``ConnectorFactory`` (list and download the export), a ``RawSelectBuilder`` (one
export file -> raw rows) and a ``SyntheticGenerator`` (synthetic exports for tests, the demo and
benchmarks). The helpers below are shared by every connector: credential parsing, error codes, and
the one place each connector translates its SDK's errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

import duckdb
from pydantic import BaseModel

from cloudact_providers.validation import summary, validate_part
from cloudact_shared.errors import CloudactError, InvalidArgument
from cloudact_shared.redact import redact_text

# An error code as a source reports it (NoSuchKey, AuthorizationFailure, invalid_grant): anything
# else came from a server we cannot vouch for, and is not repeated.
_ERROR_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass(frozen=True)
class SourceObject:
    """One export file to load, and the billing month it belongs to."""

    uri: str
    """Where it lives, safe to show and to store: it lands in progress messages, errors and the raw
    rows' ``source_object``, so it never holds a credential (no SAS token, signature or userinfo).
    One scheme per provider:

    - AWS: ``s3://<bucket>/<key>``
    - Azure: the blob's URL without its query, ``https://<account>.blob.core.windows.net/<container>/<blob>``
      (an emulator's URL in tests), plus a ``#dataset=actual|amortized|focus`` hint for the parser
      that is dropped before the URL is stored;
    - OCI: ``oci://<namespace>/<bucket>/<object>``
    - GCP: ``bigquery://<project>/<dataset>/<table>?invoice.month=YYYYMM&export_time<=<cutoff>``
      (the month of the table as of the run's snapshot; the query names that read, not a credential).
    """
    key: str
    """The key within its bucket/container."""
    size: int
    billing_period: date
    """First day of the billing month the delivery restates."""


@dataclass(frozen=True)
class ResolvedCredential:
    """A decrypted credential as a connector sees it. Never log or print it."""

    credential_id: str
    provider: str
    config: Mapping[str, str]
    secret: Mapping[str, str]

    def __repr__(self) -> str:
        return f"ResolvedCredential(credential_id={self.credential_id!r}, provider={self.provider!r}, secret=***)"


class Connector(Protocol):
    """Lists and downloads one provider's export files for some billing months.

    A connector is built per run from a decrypted credential, used as an async context manager
    (it owns its client sessions), and translates its SDK's errors into cloudact_shared errors
    (Unauthenticated / PermissionDenied for rejected credentials, NotFound for a missing bucket,
    manifest or file, Unavailable for transient faults) in one place.
    """

    async def __aenter__(self) -> Connector: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        """The files of the latest complete delivery of each billing month, from its manifest."""
        ...

    async def download(self, obj: SourceObject, dest: Path) -> None:
        """Streams one object to ``dest`` in bounded chunks (never whole in memory)."""
        ...


class ConnectorFactory(Protocol):
    """Builds a connector from a decrypted credential."""

    def __call__(self, credential: ResolvedCredential) -> Connector: ...


class RawSelectBuilder(Protocol):
    """Builds the one DuckDB SELECT that turns a local export file into raw-table rows.

    The SELECT yields the provider's raw schema columns in order (lineage from the connection's
    variables), then ``_quarantine_reason`` (NULL for good rows), ``_source_row_number`` and
    ``_record`` (the source row as JSON text, for quarantined rows). It raises FailedPrecondition
    for a file that is empty, has no rows, or is not an export of the provider.

    With ``row_numbers=False`` ``_source_row_number`` may be NULL; with ``reasons=False`` a
    quarantined row's reason need only be non-NULL and ``_record`` may be NULL (the shared builder
    then reads only the columns its checks test). Both serve a pass that drops the bad rows and
    reads the file again, with numbers and reasons, only when there were any.

    With ``read_columns`` (the raw columns the caller reads; None: all) a row need not be set aside
    for a value that neither those columns nor another check use: that value may be NULL instead.

    With ``optimistic`` the file may be read as if it were clean (CSV rows of the header's width,
    each naming its billing currency): a row that is not may then fail the SELECT with an error
    ``rawselect.optimism_refused`` recognises instead of being set aside or filled, and the caller
    reads the file again without. A builder may ignore it.
    """

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        *,
        source_object: str,
        row_numbers: bool = True,
        reasons: bool = True,
        read_columns: Collection[str] | None = None,
        optimistic: bool = False,
    ) -> str: ...


class SyntheticGenerator(Protocol):
    """Writes a synthetic export of ``rows`` rows (about: whole source records) into ``directory``.

    Returns the one file written; the provider's ``RawSelectBuilder`` reads it (``cloudact convert
    --provider <slug> --input FILE``) with no row quarantined. The same arguments give the same
    bytes, so benchmarks and tests can cache and compare.
    """

    def __call__(self, directory: Path, rows: int) -> Path: ...


class SampleWriter(Protocol):
    """Writes one generated test input into ``directory`` and returns its files (see ``spec.Sample``)."""

    def __call__(self, directory: Path) -> list[Path]: ...


@dataclass(frozen=True)
class DemoAccount:
    """What a ``DemoSource`` serves: a credential for its loopback API and the months it holds."""

    display_name: str
    config: Mapping[str, str]
    """The credential's config (its endpoint is the loopback server's URL: an override)."""
    secret: Mapping[str, str]
    periods: tuple[date, ...]
    """First days of the billing months the server holds bills for."""

    def __repr__(self) -> str:
        return f"DemoAccount(display_name={self.display_name!r}, periods={self.periods!r}, secret=***)"


class DemoUnavailable(Exception):
    """A demo source cannot run on this machine (say, its emulator's venv is missing); the message says
    what to install. The demo skips the provider, and the end-to-end tests fail."""


class DemoSource(Protocol):
    """Serves the provider's API on loopback with generated bills until the block exits.

    ``work`` is a scratch directory the source may use. Raises ``DemoUnavailable`` on entry when it
    cannot start here.
    """

    def __call__(self, work: Path) -> AbstractContextManager[DemoAccount]: ...


_Model = TypeVar("_Model", bound=BaseModel)


def parse_credential_part(model: type[_Model], data: Mapping[str, str], where: str, provider: str) -> _Model:
    """Validates a credential's config or secret against its model (from ``cloudact_providers``).

    Raises:
        InvalidArgument: naming each bad field and what is wrong with it, never a value (values may
            be secret).
    """
    parsed, violations = validate_part(model, data, where)
    if parsed is None:
        raise InvalidArgument(
            f"{where} is not a valid {provider} credential: {summary(violations)}",
            reason="BAD_CREDENTIAL_CONFIG",
            violations=violations,
        )
    return parsed


def error_code(code: object) -> str:
    """A source's error code, fit to repeat in a message: a short identifier, ``unrecognised`` for
    anything else, ``""`` for none.

    The code comes from the response of whatever answered at the endpoint; a long or odd one is
    more likely a response body than a code.
    """
    text = str(code or "")
    if not text:
        return ""
    return text if _ERROR_CODE.fullmatch(text) else "unrecognised"


class TranslatedErrors:
    """Async context manager: an SDK exception leaving the block becomes the CloudactError that
    ``translate`` returns for it (None: not an SDK error, raised on untouched). Each connector
    translates its SDK's errors in this one place, naming the location it was reading.

    Translations name a status, an error code and the object, never the SDK's message or a response
    body: what answered may be anything the endpoint points at. As a last guard, any URL credential
    left in the message is redacted, and the SDK exception is not chained (its text may hold a SAS
    token or the body, and would be printed with the error's traceback).
    """

    def __init__(self, location: str, translate: Callable[[BaseException, str], CloudactError | None]) -> None:
        self._location = location
        self._translate = translate

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, CloudactError):
            return
        if (error := self._translate(exc, self._location)) is not None:
            raise _redacted(error) from None


def _redacted(error: CloudactError) -> CloudactError:
    """``error`` with any URL credential in its message redacted (``cloudact_shared.redact``)."""
    error.message = redact_text(error.message)
    error.args = (error.message,)
    return error
