"""``python -m query_svc``: serves it until SIGTERM, with settings from CLOUDACT_* variables."""

from cloudact_shared.server import serve_main
from query_svc.server import build

if __name__ == "__main__":
    serve_main(build, "query_svc")
