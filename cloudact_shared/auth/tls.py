"""TLS for every port: a local CA, one certificate per service, and the gRPC credentials built from them.

``cloudact auth init`` (and ``cloudact serve`` / ``make demo`` when the CA is missing) issues the
files with ``ensure_local_pki``; servers and clients only read them, so certificates issued
elsewhere (a company CA, a mesh) work the same once ``tls_dir`` / ``tls_ca_file`` point at them.

A service's certificate names it twice: its common name, and a SPIFFE id
``spiffe://{trust_domain}/{service}`` in the subject alternative names. gRPC exposes the verified
SPIFFE id of a mutual-TLS peer, and that, not a header, is how one service proves itself to another.
It is also valid for every host the service listens on (127.0.0.1 and localhost by default), so
``grpcurl -cacert ca.pem`` verifies it as is.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudact_shared.auth.files import private_dir, write_atomically
from cloudact_shared.settings import CloudactSettings

SERVICES = ("credential_svc", "ingest_svc", "focus_svc", "query_svc")
"""The four services; each has its own certificate and key."""
HTTP_SERVER = "http"
"""`cloudact serve`'s HTTPS side (gateway and dashboard): a certificate of its own, for its address."""
_CA_DAYS = 3650
_LEAF_DAYS = 397
_RENEW_BEFORE = dt.timedelta(days=30)
_ANY_HOST = {"0.0.0.0", "::", "[::]", ""}


class TlsSetupError(RuntimeError):
    """The TLS files are missing or unusable (the message says which and what to run)."""


@dataclass(frozen=True)
class TlsFiles:
    """Where a deployment's CA bundle and service certificates are."""

    ca: Path
    directory: Path
    trust_domain: str

    @classmethod
    def from_settings(cls, settings: CloudactSettings) -> TlsFiles:
        return cls(settings.ca_path, settings.tls_path, settings.tls_trust_domain)

    def cert(self, service: str) -> Path:
        return self.directory / f"{service}.pem"

    def key(self, service: str) -> Path:
        return self.directory / f"{service}-key.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    def spiffe_id(self, service: str) -> str:
        return f"spiffe://{self.trust_domain}/{service}"

    def read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise TlsSetupError(f"{path} does not exist: run `cloudact auth init` first") from None


def server_credentials(files: TlsFiles, service: str, *, require_client_auth: bool) -> grpc.ServerCredentials:
    """Server TLS with the service's certificate; with ``require_client_auth``, mutual TLS.

    gRPC Python offers no "request but do not require" client certificates, so the public port never
    asks for one (people and tools authenticate with tokens) and the internal port requires one.
    """
    pair = (files.read(files.key(service)), files.read(files.cert(service)))
    roots = files.read(files.ca) if require_client_auth else None
    return grpc.ssl_server_credentials([pair], root_certificates=roots, require_client_auth=require_client_auth)


def channel_credentials(files: TlsFiles, *, service: str | None = None) -> grpc.ChannelCredentials:
    """Client TLS trusting the CA; presenting ``service``'s certificate when given (mutual TLS)."""
    if service is None:
        return grpc.ssl_channel_credentials(root_certificates=files.read(files.ca))
    return grpc.ssl_channel_credentials(
        root_certificates=files.read(files.ca),
        private_key=files.read(files.key(service)),
        certificate_chain=files.read(files.cert(service)),
    )


def service_hosts(settings: CloudactSettings, service: str) -> list[str]:
    """Every name a client may dial ``service`` by: its configured hosts, loopback and this machine."""
    hosts = [_host(address) for address in settings.service_addresses(service)]
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), *hosts]
    return list(dict.fromkeys(name for name in names if name not in _ANY_HOST))


def ensure_local_pki(settings: CloudactSettings, *, force: bool = False) -> list[Path]:
    """Creates the local CA and each service's certificate where missing, stale or (``force``) always.

    A certificate is reissued when it expires within 30 days or does not cover the service's
    configured hosts. Keys are written 0600 in a 0700 directory, each file atomically.

    Returns:
        The files written.

    Raises:
        TlsSetupError: a certificate must be issued but the CA key is not here (certificates
            issued elsewhere are never overwritten).
    """
    files = TlsFiles.from_settings(settings)
    private_dir(files.directory)
    written: list[Path] = []
    if force or not files.ca.exists():
        if files.ca != files.directory / "ca.pem":
            raise TlsSetupError(f"the CA bundle {files.ca} is missing; it was configured, so it is not created")
        written += _write_ca(files)
    for service in (*SERVICES, HTTP_SERVER):
        hosts = service_hosts(settings, service)
        if force or _needs_certificate(files, service, hosts):
            written += _issue(files, service, hosts)
    return written


def _host(address: str) -> str:
    host = address.rsplit(":", 1)[0]
    return host.strip("[]")


def _needs_certificate(files: TlsFiles, service: str, hosts: Iterable[str]) -> bool:
    if not files.cert(service).exists() or not files.key(service).exists():
        return True
    cert = x509.load_pem_x509_certificate(files.cert(service).read_bytes())
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < _RENEW_BEFORE:
        return True
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    covered = {str(n) for n in names.get_values_for_type(x509.DNSName)}
    covered |= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    return not {_normal(h) for h in hosts} <= covered


def _normal(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _write_ca(files: TlsFiles) -> list[Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"CloudAct local CA ({files.trust_domain})")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign + crl_sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_atomically(files.ca_key, _key_pem(key), mode=0o600)
    write_atomically(files.ca, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return [files.ca_key, files.ca]


def _issue(files: TlsFiles, service: str, hosts: list[str]) -> list[Path]:
    if not files.ca_key.exists():
        raise TlsSetupError(
            f"{files.cert(service)} is missing or stale and there is no CA key in {files.directory} to issue "
            "it; install a certificate for it from your CA"
        )
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TlsSetupError(f"{files.ca_key} is not the EC key `cloudact auth init` writes")
    ca_cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=_LEAF_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_alt_names(files, service, hosts)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_atomically(files.key(service), _key_pem(key), mode=0o600)
    write_atomically(files.cert(service), cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return [files.key(service), files.cert(service)]


def _alt_names(files: TlsFiles, service: str, hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(files.spiffe_id(service))]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
