"""Generates the Python stubs and typed .pyi files for protos/ into cloudact_shared/gen.

protoc writes absolute imports rooted at the proto package (``from cloudact.lineage.v1
import ...``); we rewrite them to ``cloudact_shared.gen.cloudact...`` so the stubs live
inside the one shared package instead of claiming a top-level ``cloudact`` name
(the same fix temporalio's gen_protos applies).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
OUT_DIR = ROOT / "cloudact_shared" / "gen"
_IMPORT = re.compile(r"^(from|import) cloudact\.", re.MULTILINE)


def main() -> int:
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    OUT_DIR.mkdir(parents=True)
    # protos/google/ is vendored for imports only (protos/google/SOURCES.md): its Python comes from
    # googleapis-common-protos, so the stubs import ``google.api.annotations_pb2`` from there.
    protos = sorted(
        str(p.relative_to(PROTO_DIR))
        for p in PROTO_DIR.rglob("*.proto")
        if p.relative_to(PROTO_DIR).parts[0] != "google"
    )
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={OUT_DIR}",
            f"--grpc_python_out={OUT_DIR}",
            f"--mypy_out={OUT_DIR}",
            f"--mypy_grpc_out={OUT_DIR}",
            f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
            *protos,
        ],
        check=True,
        cwd=PROTO_DIR,
    )
    for path in OUT_DIR.rglob("*.py*"):
        text = path.read_text()
        path.write_text(_IMPORT.sub(r"\1 cloudact_shared.gen.cloudact.", text))
    for directory in [OUT_DIR, *[d for d in OUT_DIR.rglob("*") if d.is_dir()]]:
        (directory / "__init__.py").write_text("")
    (OUT_DIR / "py.typed").write_text("")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
