"""AWS Data Exports (CUR 2.0) and legacy CUR from S3, read with aioboto3.

Layouts (the manifest is the commit marker: it is written after every data file, so we read the
file list from it and never list data prefixes):
- CUR 2.0: ``{prefix}/{export}/metadata/BILLING_PERIOD=YYYY-MM/{export}-Manifest.json`` naming
  ``dataFiles`` (s3:// URIs) under ``{prefix}/{export}/data/BILLING_PERIOD=YYYY-MM/``.
- Legacy CUR: ``{prefix}/{report}/{yyyymmdd-yyyymmdd}/{report}-Manifest.json`` naming
  ``reportKeys`` (keys in the same bucket) of the latest assembly.
Each delivery restates the whole month, so a run replaces the month's slice with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import date
from pathlib import Path
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from cloudact_providers.aws.credential import AwsSecret, AwsSourceConfig
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
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from cloudact_shared.naming import echo

_CHUNK_BYTES = 8 * 1024 * 1024
_UNAUTHENTICATED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_NOT_FOUND = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}


class AwsS3Connector:
    """Lists an export's latest delivery per month from its manifest and downloads its files."""

    def __init__(self, credential: ResolvedCredential) -> None:
        self._source = parse_credential_part(AwsSourceConfig, credential.config, "credential.config", "AWS")
        self._secret = parse_credential_part(AwsSecret, credential.secret, "credential.secret", "AWS")
        self._stack = AsyncExitStack()
        self._s3: Any = None

    async def __aenter__(self) -> AwsS3Connector:
        session = aioboto3.Session(
            aws_access_key_id=self._secret.aws_access_key_id,
            aws_secret_access_key=self._secret.aws_secret_access_key,
            aws_session_token=self._secret.aws_session_token,
            region_name=self._source.region,
        )
        retries = {"mode": "standard", "max_attempts": self._source.max_attempts}
        config = Config(retries=retries, connect_timeout=10, read_timeout=60)
        self._s3 = await self._stack.enter_async_context(
            session.client("s3", endpoint_url=self._source.endpoint_url, config=config)
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def list_objects(self, periods: Sequence[date]) -> list[SourceObject]:
        objects: list[SourceObject] = []
        for period in periods:
            manifest_key = await self._latest_manifest(period)
            for key in await self._data_keys(manifest_key):
                size = await self._size_of(key, manifest_key)
                objects.append(SourceObject(f"s3://{self._source.bucket}/{key}", key, size, period))
        return objects

    async def download(self, obj: SourceObject, dest: Path) -> None:
        async with _translated(f"s3://{self._source.bucket}/{obj.key}"):
            response = await self._s3.get_object(Bucket=self._source.bucket, Key=obj.key)
            body = response["Body"]
            try:
                with dest.open("wb") as handle:
                    while chunk := await body.read(_CHUNK_BYTES):
                        handle.write(chunk)
            finally:
                body.close()

    def _manifest_folder(self, period: date) -> str:
        base = "/".join(p for p in (self._source.prefix.strip("/"), self._source.export_name) if p)
        if self._source.layout == "cur2":
            return f"{base}/metadata/BILLING_PERIOD={period:%Y-%m}/"
        next_month = date(period.year + period.month // 12, period.month % 12 + 1, 1)
        return f"{base}/{period:%Y%m%d}-{next_month:%Y%m%d}/"

    async def _latest_manifest(self, period: date) -> str:
        folder = self._manifest_folder(period)
        suffix = f"{self._source.export_name}-Manifest.json"
        found: list[tuple[Any, str]] = []
        async with _translated(f"s3://{self._source.bucket}/{folder}"):
            paginator = self._s3.get_paginator("list_objects_v2")
            # Legacy CUR keeps older assemblies in sub-folders; the period folder's own manifest
            # points at the latest one, so only a manifest directly in the folder counts there.
            delimiter = "/" if self._source.layout == "legacy" else ""
            async for page in paginator.paginate(Bucket=self._source.bucket, Prefix=folder, Delimiter=delimiter):
                for item in page.get("Contents", []):
                    if item["Key"].endswith(suffix):
                        found.append((item["LastModified"], item["Key"]))
        if not found:
            raise NotFound(
                f"no AWS export manifest for {period:%Y-%m} under s3://{self._source.bucket}/{folder} "
                f"(expected a key ending in {suffix})",
                reason="MANIFEST_NOT_FOUND",
            )
        return max(found)[1]

    async def _data_keys(self, manifest_key: str) -> list[str]:
        uri = f"s3://{self._source.bucket}/{manifest_key}"
        async with _translated(uri):
            response = await self._s3.get_object(Bucket=self._source.bucket, Key=manifest_key)
            async with response["Body"] as body:
                raw = await body.read()
        try:
            manifest = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FailedPrecondition(f"manifest {uri} is not valid JSON: {exc}", reason="BAD_MANIFEST") from exc
        return _keys_from_manifest(manifest, self._source.bucket, uri)

    async def _size_of(self, key: str, manifest_key: str) -> int:
        try:
            async with _translated(f"s3://{self._source.bucket}/{key}"):
                head = await self._s3.head_object(Bucket=self._source.bucket, Key=key)
        except NotFound:
            raise FailedPrecondition(
                f"manifest s3://{self._source.bucket}/{manifest_key} names s3://{self._source.bucket}/{key}, "
                "which does not exist; the delivery is incomplete, nothing was loaded",
                reason="MANIFEST_FILE_MISSING",
            ) from None
        return int(head["ContentLength"])


def _keys_from_manifest(manifest: Any, bucket: str, uri: str) -> list[str]:
    """The data keys a CUR 2.0 (``dataFiles``) or legacy (``reportKeys``) manifest names."""
    if not isinstance(manifest, dict):
        raise FailedPrecondition(f"manifest {uri} is not a JSON object", reason="BAD_MANIFEST")
    if isinstance(manifest.get("dataFiles"), list):
        keys = []
        for entry in manifest["dataFiles"]:
            prefix = f"s3://{bucket}/"
            if not isinstance(entry, str) or not entry.startswith(prefix):
                raise FailedPrecondition(
                    f"manifest {uri} names {echo(entry)}, which is not in bucket {bucket}", reason="BAD_MANIFEST"
                )
            keys.append(entry.removeprefix(prefix))
        return keys
    if isinstance(manifest.get("reportKeys"), list) and all(isinstance(k, str) for k in manifest["reportKeys"]):
        return list(manifest["reportKeys"])
    raise FailedPrecondition(f"manifest {uri} has neither a dataFiles nor a reportKeys list", reason="BAD_MANIFEST")


def _translated(location: str) -> TranslatedErrors:
    return TranslatedErrors(location, _translate)


def _translate(exc: BaseException, location: str) -> CloudactError | None:
    """botocore errors -> CloudactErrors, naming the S3 location, a status and an error code only.

    Never botocore's message: it quotes the endpoint's URL and, for a response it cannot parse
    (whatever answered at ``endpoint_url``), the response bytes themselves.
    """
    if isinstance(exc, ClientError):
        return _from_client_error(exc, location)
    if isinstance(exc, EndpointConnectionError):
        return Unavailable(f"cannot reach S3 for {location}", reason="SOURCE_UNAVAILABLE")
    if isinstance(exc, BotoCoreError):
        return Unavailable(f"S3 error for {location} ({type(exc).__name__})", reason="SOURCE_UNAVAILABLE")
    return None


def _from_client_error(exc: ClientError, location: str) -> CloudactError:
    error = exc.response.get("Error", {})
    raw_code = str(error.get("Code", ""))
    code = error_code(raw_code)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if raw_code in _UNAUTHENTICATED:
        return Unauthenticated(f"AWS rejected the credential's keys ({code}) reading {location}")
    if raw_code == "AccessDenied" or status == 403:
        return PermissionDenied(
            f"the credential may not read {location} (AccessDenied)", reason="SOURCE_PERMISSION_DENIED"
        )
    if raw_code in _NOT_FOUND or status == 404:
        return NotFound(f"{location} does not exist ({code or status})", reason="SOURCE_NOT_FOUND")
    what = " ".join(p for p in (code, f"(HTTP {status})" if status is not None else "") if p)
    if status is not None and int(status) >= 500:
        return Unavailable(f"S3 error {what} reading {location}", reason="SOURCE_UNAVAILABLE")
    # The error's Message is the response body's: not repeated (see _translate).
    return FailedPrecondition(f"S3 error {what} reading {location}")
