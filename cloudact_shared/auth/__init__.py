"""Who may call what: TLS material, bearer tokens, the access rules and the interceptor that applies them."""

from cloudact_shared.auth.audit import AuditLog, read_audit
from cloudact_shared.auth.interceptor import AuthInterceptor, current_principal
from cloudact_shared.auth.policy import Principal, Rule, ServicePrincipal, TokenPrincipal, authorize, rules_of
from cloudact_shared.auth.tls import SERVICES, TlsFiles, TlsSetupError, ensure_local_pki
from cloudact_shared.auth.tokens import DEFAULT_TTL, MAX_TTL, Role, TokenAuthority, TokenInfo, TokenVerifier, parse_ttl

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "SERVICES",
    "AuditLog",
    "AuthInterceptor",
    "Principal",
    "Role",
    "Rule",
    "ServicePrincipal",
    "TlsFiles",
    "TlsSetupError",
    "TokenAuthority",
    "TokenInfo",
    "TokenPrincipal",
    "TokenVerifier",
    "authorize",
    "current_principal",
    "ensure_local_pki",
    "parse_ttl",
    "read_audit",
    "rules_of",
]
