"""The local PKI: a CA and one certificate per service, valid where the service listens."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509

from cloudact_shared.auth import SERVICES, TlsFiles, TlsSetupError, ensure_local_pki
from cloudact_shared.settings import CloudactSettings


def _names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    found = {str(n) for n in names.get_values_for_type(x509.DNSName)}
    found |= {str(n) for n in names.get_values_for_type(x509.IPAddress)}
    return found | set(names.get_values_for_type(x509.UniformResourceIdentifier))


def test_init_issues_a_private_ca_and_a_certificate_per_service(tmp_path: Path) -> None:
    settings = CloudactSettings(data_dir=tmp_path / "data")
    written = ensure_local_pki(settings)
    files = TlsFiles.from_settings(settings)
    assert files.ca == tmp_path / "data" / "secrets" / "tls" / "ca.pem"
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    for service in SERVICES:
        assert {files.cert(service), files.key(service)} <= set(written)
        assert stat.S_IMODE(files.key(service).stat().st_mode) == 0o600
        assert {"127.0.0.1", "localhost", f"spiffe://cloudact.local/{service}"} <= _names(files.cert(service))
    assert ensure_local_pki(settings) == []  # idempotent


def test_a_certificate_is_reissued_when_its_service_moves_to_a_new_host(tmp_path: Path) -> None:
    ensure_local_pki(CloudactSettings(data_dir=tmp_path))
    moved = CloudactSettings(data_dir=tmp_path, query_address="10.1.2.3:50054")
    files = TlsFiles.from_settings(moved)
    ca_before = files.ca.read_bytes()
    assert ensure_local_pki(moved) == [files.key("query_svc"), files.cert("query_svc")]
    assert str(ipaddress.ip_address("10.1.2.3")) in _names(files.cert("query_svc"))
    assert files.ca.read_bytes() == ca_before  # the CA stays: other certificates remain valid


def test_certificates_from_elsewhere_are_never_overwritten(tmp_path: Path) -> None:
    settings = CloudactSettings(data_dir=tmp_path, tls_ca_file=tmp_path / "company-ca.pem")
    with pytest.raises(TlsSetupError, match=r"company-ca\.pem"):
        ensure_local_pki(settings)
    issued = CloudactSettings(data_dir=tmp_path / "issued")
    ensure_local_pki(issued)
    TlsFiles.from_settings(issued).ca_key.unlink()  # the CA lives elsewhere
    moved = issued.model_copy(update={"ingest_address": "10.9.9.9:50052"})
    with pytest.raises(TlsSetupError, match="no CA key"):
        ensure_local_pki(moved)
