"""Where a conversion's time goes: `cloudact convert`'s one statement under DuckDB's profiler.

Usage: python benchmarks/profile.py PROVIDER FILE [--threads N]
Prints one JSON line: the CPU seconds of the statement's operators, grouped into the stages of a
conversion, and the statement's wall seconds. Run on one thread (the default) the operator times add
up to the wall time and do not depend on how busy the machine's other core is.

- read: the table scans of the export file (CSV tokenising, Parquet decoding);
- parse + check: everything under the quarantine filter (typing every value the mapping reads, the row checks);
- map: between that filter and the writer (the FOCUS mapping, its joins, the FOCUS wrapper);
- write: the Parquet writer (encoding, compression).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudact_cli import convert  # noqa: E402
from cloudact_providers.registry import registration  # noqa: E402
from cloudact_shared.lineage import Lineage  # noqa: E402
from focus_svc import conversion  # noqa: E402
from ingest_svc.adapters.staging_query import ExportFile, StagingQuery  # noqa: E402

Node = dict[str, Any]


def profile(provider: str, source: Path, threads: int) -> dict[str, float]:
    """The stage times of converting ``source`` (CPU seconds per stage, and ``wall``)."""
    with tempfile.TemporaryDirectory(prefix="cloudact-profile-") as work:
        spill, output, trace = Path(work) / "spill", Path(work) / "focus.parquet", Path(work) / "profile.json"
        con = convert._connect("640MB", spill, threads, text_inputs=".csv" in source.name.lower())
        lineage = Lineage.new_run(f"{provider}/cost/billing", "local-files")
        conversion.prepare(con, [provider])
        read = conversion.raw_columns_read(con, provider)
        builder = registration(provider).raw_select_builder()
        staging = StagingQuery(con, [ExportFile(source, str(source))], builder, lineage, read_columns=read)
        staged = convert._clean(staging, optimistic=True)  # what `cloudact convert` runs on an export with no bad row
        kept = "NOT MATERIALIZED " if ".csv" in source.name.lower() else ""
        select = f"WITH raw_good AS {kept}({staged}) {conversion.focus_select_sql(provider, 'raw_good')}"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{trace}'")
        started = time.perf_counter()
        con.execute(f"COPY ({select}) TO '{output}' {convert._output_format(output)}")
        wall = time.perf_counter() - started
        con.close()
        tree: Node = json.loads(trace.read_text())
    stages = {"read": 0.0, "parse + check": 0.0, "map": 0.0, "write": 0.0}
    for node, stage in _staged_nodes(tree["operator"], under_filter=False):
        stages[stage] += float(node.get("timing", 0.0))
    return stages | {"wall": wall}


def _staged_nodes(nodes: list[Node], under_filter: bool) -> Iterator[tuple[Node, str]]:
    """Each operator and its stage: the writer, a file scan, under the quarantine filter, or the mapping."""
    for node in nodes:
        kind, info = node.get("type", ""), node.get("extra_info", {})
        inside = under_filter or (kind == "FILTER" and convert._SEEN in str(info))
        if kind == "COPY_TO_FILE":
            stage = "write"
        elif kind == "TABLE_SCAN" and str(info.get("Function", "")).startswith("READ_"):
            stage = "read"
        else:
            stage = "parse + check" if inside else "map"
        yield node, stage
        yield from _staged_nodes(node.get("children", []), inside)


STAGES = ("read", "parse + check", "map", "write")


def run_profiles(cases: dict[str, tuple[str, Path]], python: Path, timeout: float) -> dict[str, dict[str, float]]:
    """Each case (label -> provider, file) profiled in its own process, on one thread."""
    profiles: dict[str, dict[str, float]] = {}
    for label, (provider, source) in cases.items():
        print(f"[profile] {label} ...", end=" ", flush=True)
        cmd = [str(python), str(Path(__file__)), provider, str(source)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            print(f"failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        profiles[label] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{profiles[label]['wall']:.2f} s", flush=True)
    return profiles


def render_profiles(profiles: dict[str, dict[str, float]], cases: dict[str, tuple[str, Path]]) -> str:
    """The report section: CPU seconds per stage and its share, per case."""
    if not profiles:
        return ""
    lines = [
        "",
        "## Where the time goes: one conversion on one thread",
        "",
        "`benchmarks/profile.py`: `cloudact convert`'s statement under DuckDB's profiler, on one thread so",
        "the operator times add up to the wall time; operators are grouped by stage (read the file; parse",
        "and check every value, under the quarantine filter; map to FOCUS; write Parquet).",
        "",
        "| case | wall s | " + " | ".join(f"{stage} s (share)" for stage in STAGES) + " |",
        "|---|---:|" + "---:|" * len(STAGES),
    ]
    for label, figures in profiles.items():
        total = sum(figures[stage] for stage in STAGES) or 1.0
        cells = " | ".join(f"{figures[stage]:.2f} ({figures[stage] / total:.0%})" for stage in STAGES)
        lines.append(f"| {label} | {figures['wall']:.2f} | {cells} |")
    commands = [f"python benchmarks/profile.py {cases[label][0]} {cases[label][1]}" for label in profiles]
    lines += ["", "```sh", *commands, "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("provider")
    parser.add_argument("file", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(profile(args.provider, args.file, args.threads)))


if __name__ == "__main__":
    main()
