"""``python -m credential_svc``: serves it until SIGTERM, with settings from CLOUDACT_* variables."""

from cloudact_shared.server import serve_main
from credential_svc.server import build

if __name__ == "__main__":
    serve_main(build, "credential_svc")
