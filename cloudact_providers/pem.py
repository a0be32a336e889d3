"""Whether a PEM private key in a credential can be loaded, checked when the credential is created."""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def private_key_problem(pem: str, pass_phrase: str | None = None) -> str | None:
    """What keeps ``pem`` from loading as a private key, or None. Never quotes the key.

    Like the OCI SDK, a pass phrase given for a key that needs none is ignored.
    """
    password = pass_phrase.encode() if pass_phrase else None
    try:
        load_pem_private_key(pem.encode("ascii"), password)
    except TypeError:
        if password is None:
            return "the private key is encrypted: a pass_phrase is required"
        return private_key_problem(pem)
    except (ValueError, UnsupportedAlgorithm):
        if password is not None:
            return "is not a PEM private key, or the pass_phrase does not open it"
        return "is not a PEM private key"
    return None
