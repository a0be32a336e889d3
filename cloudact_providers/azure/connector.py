"""Azure Cost Management exports (ActualCost / AmortizedCost cost details, FocusCost) from Blob Storage.

Layout: ``{container}/{root}/{export}/{YYYYMMDD-YYYYMMDD}/{run}/{guid}/part_N_NNNN.csv[.gz]|.parquet``
with a ``manifest.json`` in the run folder (some descriptions put the date range before the export
name, so the path is never parsed: the manifest is). The manifest is written after the data parts,
so it is the completion marker; its ``blobs`` list names the run's files.

Each MonthToDate run (and each month-end rerun) writes a full copy of the month, so per
(export, month) only the LATEST run by ``runInfo.submittedTime`` is read: a re-export replaces the
earlier one. A credential may name several exports (``export_name: "actual-exp,amortized-exp"``),
typically the ActualCost and the AmortizedCost export of one scope, which the FOCUS mapping combines.
The dataset of each file (from the manifest's ``exportConfig.type``) travels to the raw SELECT as a
``#dataset=actual|amortized|focus`` suffix of the object URI.

No double counting: a FocusCost export holds the billed AND the amortized view of its scope, so per
scope (the manifest's ``exportConfig.resourceId`` without its ``/providers/Microsoft.CostManagement/
exports/<name>`` tail) a credential may name one FocusCost export, or at most one ActualCost and one
AmortizedCost export, never a mix: anything else fails with FailedPrecondition OVERLAPPING_EXPORTS
before a file is read. (The FOCUS mapping also lets FocusCost win over cost details of the same
billing account and month, for files converted together outside the pipeline.)

Authentication: a storage connection string, a SAS token, or a Microsoft Entra service principal
(tenant_id, client_id, client_secret) through azure-identity's async ClientSecretCredential.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity.aio import ClientSecretCredential
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from cloudact_providers.azure.credential import PRINCIPAL_FIELDS, AzureSecret, AzureSourceConfig, check_pair
from cloudact_providers.azure.formats import DATASET_FRAGMENT
from cloudact_providers.connector import (
    ResolvedCredential,
    SourceObject,
    TranslatedErrors,
    error_code,
    parse_credential_part,
)
from cloudact_shared.errors import (
    CloudactError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from cloudact_shared.naming import echo
from cloudact_shared.redact import strip_url

_CHUNK_BYTES = 8 * 1024 * 1024
_MANIFEST = "manifest.json"
# Cost details dataset types (exportConfig.type) -> the raw table's dataset value.
_DATASETS = {"actualcost": "actual", "usage": "actual", "amortizedcost": "amortized", "focuscost": "focus"}
# FocusCost dataset versions the FOCUS mapping upgrades (1.0r2 = 1.0 with seconds in its dates).
_FOCUS_VERSIONS = ("1.0", "1.0r2", "1.2-preview")
_EXPORTS_TAIL = "/providers/microsoft.costmanagement/exports/"
_STORAGE_SCOPE = "https://storage.azure.com/.default"


class _Run:
    """One export run, from its manifest."""

    def __init__(self, name: str, manifest: dict[str, Any], uri: str) -> None:
        config = manifest.get("exportConfig") or {}
        info = manifest.get("runInfo") or {}
        blobs = manifest.get("blobs")
        if not isinstance(config, dict) or not isinstance(info, dict) or not isinstance(blobs, list):
            raise FailedPrecondition(
                f"manifest {uri} lacks exportConfig, runInfo or a blobs list", reason="BAD_MANIFEST"
            )
        self.name = name
        self.folder = name.rsplit("/", 1)[0] if "/" in name else ""
        self.export_name = str(config.get("exportName") or "")
        self.dataset = _DATASETS.get(str(config.get("type") or "").lower())
        self.version = str(config.get("dataVersion") or "")
        if self.dataset == "focus" and self.version not in _FOCUS_VERSIONS:
            raise FailedPrecondition(
                f"manifest {uri}: FocusCost dataVersion {echo(self.version)} is not supported "
                f"(supported: {', '.join(_FOCUS_VERSIONS)}); re-create the export with one of them",
                reason="UNSUPPORTED_DATASET_VERSION",
            )
        resource = str(config.get("resourceId") or "").lower()
        # The export's scope; unknown ("") overlaps every scope, so the overlap check stays safe.
        self.scope = resource.split(_EXPORTS_TAIL, 1)[0] if _EXPORTS_TAIL in resource else ""
        self.submitted = str(info.get("submittedTime") or "")
        start = str(info.get("startDate") or "")
        try:
            self.period = date.fromisoformat(start[:10]).replace(day=1)
        except ValueError:
            raise FailedPrecondition(
                f"manifest {uri} has no valid runInfo.startDate ({echo(start)})", reason="BAD_MANIFEST"
            ) from None
        self.blobs: list[tuple[str, int | None]] = []
        for blob in blobs:
            blob_name = blob.get("blobName") if isinstance(blob, dict) else None
            if not isinstance(blob_name, str) or not blob_name:
                raise FailedPrecondition(f"manifest {uri} names a blob without blobName", reason="BAD_MANIFEST")
            size = blob.get("byteCount")
            self.blobs.append((blob_name, int(size) if isinstance(size, int) else None))


class AzureBlobConnector:
    """Lists the latest export run per (export, month) from its manifest and downloads its parts."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self._source = parse_credential_part(AzureSourceConfig, credential.config, "credential.config", "Azure")
        self._secret = parse_credential_part(AzureSecret, credential.secret, "credential.secret", "Azure")
        if pair := check_pair(self._source, self._secret):
            raise InvalidArgument(
                "; ".join(f"credential.{field} is {problem}" for field, problem in pair),
                reason="BAD_CREDENTIAL_CONFIG",
                violations=[FieldViolation(f"credential.{field}", problem) for field, problem in pair],
            )
        self._credential_id = credential.credential_id
        self._principal: ClientSecretCredential | None = None
        self._service: BlobServiceClient | None = None
        self._container: ContainerClient | None = None

    async def __aenter__(self) -> AzureBlobConnector:
        try:
            service = self._new_service()
        except BaseException:
            await self.__aexit__(None, None, None)  # closes a principal made before the refusal
            raise
        if self._principal is not None:
            # Sign in once up front: a rejected secret then fails at once as Unauthenticated, instead
            # of after the Blob client's retry back-off (about 85 s); the token is cached for the run.
            try:
                async with self._translated(self._source.authority_host or "Microsoft Entra ID"):
                    await self._principal.get_token(_STORAGE_SCOPE)
            except BaseException:
                await service.close()
                await self.__aexit__(None, None, None)
                raise
        self._service = await service.__aenter__()
        self._container = self._service.get_container_client(self._source.container)
        return self

    def _new_service(self) -> BlobServiceClient:
        """The Blob service client of the credential's kind.

        Raises:
            InvalidArgument: the SDK refuses the secret or the endpoint; the field is named, never
                its value (the SDK's own message may quote it).
        """
        options = self._transport_options()
        if self._secret.connection_string is not None:
            try:
                # The connection string names the endpoint (BlobEndpoint=...); account_url is for SAS only.
                return BlobServiceClient.from_connection_string(self._secret.connection_string, **options)
            except ValueError:
                raise _bad_secret(
                    "credential.secret.connection_string", "a valid Azure Storage connection string"
                ) from None
        credential: ClientSecretCredential | str | None = self._secret.sas_token
        if self._secret.is_principal:
            try:
                credential = self._principal_credential()
            except ValueError:
                fields = ", ".join(PRINCIPAL_FIELDS)
                raise _bad_secret(
                    "credential.secret", f"a usable Microsoft Entra service principal ({fields})"
                ) from None
        assert self._source.account_url is not None  # checked in __init__
        try:
            return BlobServiceClient(self._source.account_url, credential=credential, **options)
        except ValueError:
            raise InvalidArgument(
                "credential.config.account_url is not a Blob Storage account URL",
                reason="BAD_CREDENTIAL_CONFIG",
                violations=[FieldViolation("credential.config.account_url", "not a Blob Storage account URL")],
            ) from None

    async def __aexit__(self, *exc_info: object) -> None:
        if self._service is not None:
            await self._service.__aexit__(None, None, None)
            self._service = None
            self._container = None
        if self._principal is not None:
            await self._principal.close()
            self._principal = None

    def _transport_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"connection_verify": self._source.ca_bundle} if self._source.ca_bundle else {}
        if self._source.max_attempts is not None:
            options["retry_total"] = self._source.max_attempts - 1
        return options

    def _principal_credential(self) -> ClientSecretCredential | None:
        """The service principal's token credential (None for a SAS token)."""
        secret = self._secret
        if not secret.is_principal:
            return None
        assert secret.tenant_id and secret.client_id and secret.client_secret  # checked by AzureSecret
        options = {k: v for k, v in self._transport_options().items() if k == "connection_verify"}
        if self._source.authority_host:
            # A sovereign cloud or a private authority: no instance discovery against the public cloud.
            options.update(authority=self._source.authority_host, disable_instance_discovery=True)
        self._principal = ClientSecretCredential(secret.tenant_id, secret.client_id, secret.client_secret, **options)
        return self._principal

    @property
    def _client(self) -> ContainerClient:
        if self._container is None:
            raise RuntimeError("AzureBlobConnector used outside its async context")
        return self._container

    def _translated(self, location: str) -> TranslatedErrors:
        return _translated(location, self._credential_id)

    def _uri(self, name: str) -> str:
        """The blob's URL without its query (see ``SourceObject.uri``): with a SAS token credential the
        container's URL carries the token, which must not reach an object URI, an error or progress."""
        return f"{strip_url(self._client.url).rstrip('/')}/{name}"

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        wanted = {p.replace(day=1) for p in periods}
        latest: dict[tuple[str, date], _Run] = {}
        for run in await self._runs():
            if run.period not in wanted:
                continue
            key = (run.export_name, run.period)
            current = latest.get(key)
            if current is None or (run.submitted, run.name) > (current.submitted, current.name):
                latest[key] = run
        _check_no_overlap(list(latest.values()))
        objects: list[SourceObject] = []
        for export in self._source.export_names:
            for period in sorted(wanted):
                chosen = latest.get((export, period))
                if chosen is None:
                    raise NotFound(
                        f"no completed run of Azure export {export!r} for {period:%Y-%m} under "
                        f"{self._uri(self._root())} (no manifest.json with that exportName and startDate)",
                        reason="MANIFEST_NOT_FOUND",
                    )
                objects.extend([await self._object(chosen, blob, size, period) for blob, size in chosen.blobs])
        return objects

    async def download(self, obj: SourceObject, dest: Path) -> None:
        async with self._translated(self._uri(obj.key)):
            stream = await self._client.download_blob(obj.key)
            with dest.open("wb") as handle:
                async for chunk in stream.chunks():
                    handle.write(chunk)

    def _root(self) -> str:
        root = self._source.root_path.strip("/")
        return f"{root}/" if root else ""

    async def _runs(self) -> list[_Run]:
        """Every run manifest under the root whose path names one of the exports."""
        names = set(self._source.export_names)
        runs: list[_Run] = []
        manifests: list[str] = []
        async with self._translated(self._uri(self._root())):
            async for blob in self._client.list_blobs(name_starts_with=self._root()):
                name = str(blob.name)
                if name.rsplit("/", 1)[-1].lower() == _MANIFEST and names & set(name.split("/")):
                    manifests.append(name)
        for name in manifests:
            run = _Run(name, await self._read_json(name), self._uri(name))
            if run.export_name in names:
                runs.append(run)
        return runs

    async def _read_json(self, name: str) -> dict[str, Any]:
        uri = self._uri(name)
        async with self._translated(uri):
            raw = await (await self._client.download_blob(name)).readall()
        try:
            manifest = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FailedPrecondition(f"manifest {uri} is not valid JSON: {exc}", reason="BAD_MANIFEST") from exc
        if not isinstance(manifest, dict):
            raise FailedPrecondition(f"manifest {uri} is not a JSON object", reason="BAD_MANIFEST")
        return manifest

    async def _object(self, run: _Run, blob: str, size: int | None, period: date) -> SourceObject:
        # FinOps hubs' manifests name blobs by their full path; accept a name relative to the run folder too.
        key = blob.lstrip("/")
        if run.folder and not key.startswith(self._root()) and "/" not in key:
            key = f"{run.folder}/{key}"
        try:
            async with self._translated(self._uri(key)):
                props = await self._client.get_blob_client(key).get_blob_properties()
        except NotFound:
            raise FailedPrecondition(
                f"manifest {self._uri(run.name)} names {self._uri(key)}, which does not exist; "
                "the export run is incomplete, nothing was loaded",
                reason="MANIFEST_FILE_MISSING",
            ) from None
        uri = self._uri(key) + (f"{DATASET_FRAGMENT}{run.dataset}" if run.dataset else "")
        return SourceObject(uri, key, int(props.size if props.size is not None else size or 0), period)


def _check_no_overlap(runs: list[_Run]) -> None:
    """Per scope and month: one FocusCost run, or at most one ActualCost and one AmortizedCost run."""
    for i, run in enumerate(runs):
        for other in runs[i + 1 :]:
            same_scope = run.scope == other.scope or not run.scope or not other.scope
            overlapping = "focus" in (run.dataset, other.dataset) or (
                run.dataset is not None and run.dataset == other.dataset
            )
            if same_scope and run.period == other.period and overlapping:
                raise FailedPrecondition(
                    f"Azure exports {run.export_name!r} ({run.dataset or 'unknown dataset'}) and "
                    f"{other.export_name!r} ({other.dataset or 'unknown dataset'}) cover the same scope "
                    f"{run.scope or '(unknown)'} for {run.period:%Y-%m}: their costs would be counted twice. "
                    "Name either one FocusCost export, or one ActualCost and one AmortizedCost export per scope.",
                    reason="OVERLAPPING_EXPORTS",
                )


def _translated(location: str, credential_id: str = "") -> TranslatedErrors:
    return TranslatedErrors(
        location,
        lambda exc, where: translate_error(exc, where, credential_id) if isinstance(exc, AzureError) else None,
    )


def translate_error(exc: AzureError, location: str, credential_id: str = "") -> CloudactError:
    """One Azure SDK error -> the CloudactError the pipeline reports: the status, the error code and
    the location, never the SDK's message (it quotes the request URL, SAS token included, and for a
    response it cannot parse, the response itself) nor a secret."""
    status = getattr(exc, "status_code", None)
    raw = getattr(exc, "error_code", None) or ""
    # StorageErrorCode is a str enum: its value is the code (str() would give the enum's name).
    raw_code = str(raw.value if isinstance(raw, Enum) else raw)
    code = error_code(raw_code)
    message = str(getattr(exc, "message", "") or "")
    # A wrong account key or SAS signature: AuthenticationFailed on Azure (ClientAuthenticationError),
    # a 403 AuthorizationFailure saying "failed to authenticate" on Azurite (only tested, never shown).
    if (
        isinstance(exc, ClientAuthenticationError)
        or raw_code in {"AuthenticationFailed", "InvalidAuthenticationInfo"}
        or (status == 403 and "failed to authenticate" in message)
    ):
        who = f"credential {credential_id}" if credential_id else "the credential"
        return Unauthenticated(f"Azure rejected {who} ({code or 'authentication failed'}) reading {location}")
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        return NotFound(f"{location} does not exist ({code or status})", reason="SOURCE_NOT_FOUND")
    if status == 403:
        return PermissionDenied(
            f"the credential may not read {location} ({code or 'AuthorizationFailure'})",
            reason="SOURCE_PERMISSION_DENIED",
        )
    what = " ".join(p for p in (code, f"(HTTP {status})" if status is not None else "") if p)
    if isinstance(exc, ServiceRequestError | ServiceResponseError) or (status is not None and int(status) >= 500):
        return Unavailable(
            f"Azure Storage unavailable reading {location}: {what or type(exc).__name__}", reason="SOURCE_UNAVAILABLE"
        )
    if isinstance(exc, HttpResponseError):
        return FailedPrecondition(f"Azure Storage error {what} reading {location}")
    return Unavailable(f"Azure Storage error reading {location}: {type(exc).__name__}", reason="SOURCE_UNAVAILABLE")


def _bad_secret(field: str, what: str) -> InvalidArgument:
    """The secret field the SDK refused, named without its value."""
    return InvalidArgument(
        f"{field} is not {what}", reason="BAD_CREDENTIAL_CONFIG", violations=[FieldViolation(field, f"not {what}")]
    )
