"""Benchmark of the pipeline path: S3 (moto server, its own process) -> ingest_svc -> raw Delta table
-> focus_svc -> FOCUS Delta table, through the real services and gRPC.

Usage: python benchmarks/pipeline_path.py ROWS [--format parquet|csv.gz] [--legacy-csv FILE [--split-rows N]]
       [--work DIR] [--trace FILE]
With --legacy-csv the file (ROWS ignored) is delivered as a legacy CUR export (the same data the
converters read); otherwise a CUR 2.0 export of ROWS rows is generated (untimed, in a child process).
Prints one JSON line: rows, seconds per stage (from the run's progress events), total seconds and
the peak RSS of this process (the four services run in it; moto's memory is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Literal

import boto3
import pyarrow as pa

from cloudact_cli.supervisor import start_in_process
from cloudact_shared.auth import Role, TokenAuthority
from cloudact_shared.clients import open_channel
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.readiness import wait_until
from cloudact_shared.settings import CloudactSettings

PERIOD = date(2025, 1, 1)
BUCKET = "bench"
_GENERATE = """
import sys
from datetime import date
from pathlib import Path
from cloudact_providers.aws.synthetic import generate_cur2
e = generate_cur2(Path(sys.argv[1]), int(sys.argv[2]), export_name="cur2", billing_period=date(2025, 1, 1),
                  file_format=sys.argv[3], bucket="bench", prefix="exports")
print(*e.data_files, e.manifest_path)
"""


class _RssSampler(threading.Thread):
    """Samples this process's resident memory every 50 ms and keeps the peak of each stage."""

    def __init__(self, trace: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.stage = "start"
        self.peaks: dict[str, float] = {}
        self._done = threading.Event()
        self._trace = trace

    def run(self) -> None:
        started = time.perf_counter()
        trace = self._trace.open("w") if self._trace else None
        try:
            while not self._done.wait(0.05):
                rss_mb = _rss_mb()
                self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), rss_mb)
                if trace is not None:
                    arrow_mb = pa.total_allocated_bytes() / 2**20
                    trace.write(f"{time.perf_counter() - started:.2f}\t{self.stage}\t{rss_mb:.0f}\t{arrow_mb:.0f}\n")
        finally:
            if trace is not None:
                trace.close()

    def stop(self) -> None:
        self._done.set()
        self.join()


def _peak_rss_mb() -> float:
    """This process's peak RSS since exec (VmHWM). Not ``ru_maxrss``: Linux carries the forking
    parent's high-water mark across exec into it, and ``make bench`` holds more than a GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_moto(port: int) -> subprocess.Popen[bytes]:
    moto = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL)

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, what="moto_server", timeout=30)
    except TimeoutError:
        process.kill()
        raise
    return process


async def _run(
    settings: CloudactSettings, endpoint: str, source: dict[str, str], trace: Path | None = None
) -> dict[str, float]:
    settings, running = await start_in_process(settings)
    servers = list(running.values())
    token, _ = TokenAuthority(settings.tokens_path).mint("bench", Role.OPERATOR, subject="make bench")
    try:
        async with open_channel(settings, settings.credential_address, token=token) as channel:
            created = await CredentialServiceStub(channel).CreateCredential(
                cred_pb.CreateCredentialRequest(
                    org_slug="bench",
                    provider="aws",
                    display_name="bench",
                    secret={"aws_access_key_id": "bench", "aws_secret_access_key": "bench"},
                    config={"bucket": BUCKET, "endpoint_url": endpoint, **source},
                ),
                timeout=30,
            )
        request = pipe_pb.RunPipelineRequest(
            org_slug="bench",
            provider="aws",
            credential_id=created.credential.credential_id,
            billing_period=pipe_pb.BillingPeriod(year=PERIOD.year, month=PERIOD.month),
        )
        stages: dict[str, float] = {}
        started = last = time.perf_counter()
        previous = "start"
        sampler = _RssSampler(trace)
        sampler.start()
        async with open_channel(settings, settings.ingest_address, token=token) as channel:
            async for event in PipelineServiceStub(channel).RunPipeline(request, timeout=3600):
                now = time.perf_counter()
                stages[previous] = stages.get(previous, 0.0) + now - last
                last = now
                if event.HasField("progress"):
                    previous = pipe_pb.Stage.Name(event.progress.stage).removeprefix("STAGE_").lower()
                    sampler.stage = previous
                else:
                    stages["rows"] = float(event.result.rows_read)
                    stages["focus_rows"] = float(event.result.focus_rows_written)
        stages["total"] = time.perf_counter() - started
        sampler.stop()
        stages.update({f"peak_rss_mb_{k}": round(v, 1) for k, v in sampler.peaks.items()})
        return stages
    finally:
        for server in servers:
            await server.stop(0)


def _cur2_delivery(root: Path, rows: int, file_format: str) -> list[Path]:
    # Generated in a child process, so this process's peak RSS is the pipeline's alone.
    listing = subprocess.run(
        [sys.executable, "-c", _GENERATE, str(root), str(rows), file_format],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [Path(p) for p in listing]


def _legacy_delivery(csv: Path, root: Path, split_rows: int | None) -> list[Path]:
    """Lays ``csv`` out as a legacy CUR delivery for January 2025: one file (a hard link, no copy), or
    files of ``split_rows`` rows each, as AWS splits a large report."""
    folder = root / "legacy" / "legacy" / "20250101-20250201"
    (folder / "assembly").mkdir(parents=True)
    if split_rows is None:
        data = [folder / "assembly" / "legacy-00001.csv"]
        try:
            data[0].hardlink_to(csv.resolve())
        except OSError:  # another file system
            shutil.copyfile(csv, data[0])
    else:
        data = _split_csv(csv, folder / "assembly", split_rows)
    manifest = folder / "legacy-Manifest.json"
    manifest.write_text(json.dumps({"reportKeys": [d.relative_to(root).as_posix() for d in data]}))
    return [*data, manifest]


def _split_csv(csv: Path, folder: Path, rows: int) -> list[Path]:
    """``csv`` as files of ``rows`` rows, each with the header. By lines: a generated CSV has no
    quoted line break. moto holds a whole object in memory to serve it, so a 10M-row file (8 GB)
    is delivered in parts."""
    parts: list[Path] = []
    with csv.open("rb") as source:
        header = source.readline()
        while line := source.readline():
            parts.append(folder / f"legacy-{len(parts) + 1:05d}.csv")
            with parts[-1].open("wb") as part:
                part.write(header)
                part.write(line)
                part.writelines(itertools.islice(source, rows - 1))
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", type=int)
    parser.add_argument("--format", dest="file_format", choices=["parquet", "csv.gz"], default="parquet")
    parser.add_argument("--legacy-csv", type=Path, default=None)
    parser.add_argument("--split-rows", type=int, default=None, help="deliver --legacy-csv in files of this many rows")
    parser.add_argument("--work", type=Path, default=Path("bench-data/pipeline"))
    parser.add_argument("--trace", type=Path, default=None, help="write seconds, stage, RSS MB, Arrow MB every 50 ms")
    args = parser.parse_args()
    file_format: Literal["parquet", "csv.gz"] = args.file_format
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    if args.legacy_csv is not None:
        layout, files = "legacy", _legacy_delivery(args.legacy_csv, args.work / "export", args.split_rows)
    else:
        layout, files = "cur2", _cur2_delivery(args.work / "export", args.rows, file_format)
    port = _free_port()
    moto = _start_moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        s3.create_bucket(Bucket=BUCKET)
        for path in files:
            s3.upload_file(str(path), BUCKET, path.relative_to(args.work / "export").as_posix())
        config = {
            "layout": layout,
            "export_name": "cur2" if layout == "cur2" else "legacy",
            "prefix": "exports" if layout == "cur2" else "legacy",
        }
        settings = CloudactSettings(data_dir=args.work / "data", allow_endpoint_overrides=True)
        stages = asyncio.run(_run(settings, endpoint, config, args.trace))
    finally:
        moto.kill()
        moto.wait()
    peak_mb = _peak_rss_mb()
    source = "legacy CUR CSV" if layout == "legacy" else f"CUR 2.0 {file_format}"
    budget_mb = settings.memory_budget / 2**20
    print(json.dumps({"source": source, **stages, "peak_rss_mb": round(peak_mb, 1), "budget_mb": round(budget_mb)}))


if __name__ == "__main__":
    main()
