"""`make bench`: raw legacy CUR CSV -> FOCUS, cloudact vs focus-converter 1.0.0 vs bare DuckDB.

For each size it generates (and caches) a synthetic legacy CUR CSV with
``cloudact_providers.aws.synthetic.generate_legacy_cur_csv``, then runs every tool as its own subprocess
(own session) and measures:

* wall seconds (``time.perf_counter`` around spawn..exit);
* peak RSS of the largest single process: the largest ``VmHWM`` (a process's own peak since its
  exec) among the session's processes, sampled from ``/proc`` every 50 ms (not ``ru_maxrss``: Linux
  carries the forking bench process's high-water mark across exec into the child's);
* peak RSS of the whole process tree: the sum of ``VmRSS`` over every process of the child's
  session, sampled from ``/proc`` every 50 ms (focus-converter forks one writer per core, so the
  single-process figure understates it). PASS/MISS on memory uses this, the stricter one.

The median of N repeats is reported. Results go to ``docs/benchmarks.md`` (rendered from
``benchmarks/template.md``), ``bench-data/results.json`` and stdout. Commands are templates with
``{input}``, ``{athena_input}``, ``{output}``, ``{python}`` placeholders so any tool can be measured
(``--cloudact-cmd``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import Result, count_rows, failure_note, measure, warm_page_cache  # noqa: E402
from benchmarks.profile import render_profiles, run_profiles  # noqa: E402
from benchmarks.providers import PROVIDERS, provider_inputs, render_providers, run_providers  # noqa: E402
from benchmarks.query import render_query, run_query_bench  # noqa: E402
from benchmarks.sample_x781 import build_input as build_x781  # noqa: E402
from benchmarks.sample_x781 import render_sample_x781, run_sample_x781  # noqa: E402
from benchmarks.small_file import render_small_file, run_small_file  # noqa: E402
from benchmarks.summary import render_summary  # noqa: E402
from cloudact_providers.aws.synthetic import (  # noqa: E402
    LEGACY_CUR_COLUMNS,
    athena_column_name,
    generate_legacy_cur_csv,
)

VENV_PY = ROOT / ".venv" / "bin" / "python"
FC_VERSION = "1.0.0"
FC_PIP = [f"focus-converter=={FC_VERSION}", "multimethod<2", "click<8.2"]
CSV_BYTES_PER_ROW = 840  # measured: ~831 bytes per generated legacy row

# The ~40 source columns a FOCUS conversion of legacy CUR reads.
BARE_COLUMNS = [
    "identity/LineItemId", "identity/TimeInterval", "bill/InvoiceId", "bill/InvoicingEntity",
    "bill/BillingEntity", "bill/BillType", "bill/PayerAccountId", "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate", "lineItem/UsageAccountId", "lineItem/LineItemType",
    "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/ProductCode", "lineItem/UsageType",
    "lineItem/Operation", "lineItem/AvailabilityZone", "lineItem/UsageAmount",
    "lineItem/CurrencyCode", "lineItem/UnblendedRate", "lineItem/UnblendedCost",
    "lineItem/LineItemDescription", "lineItem/TaxType", "lineItem/LegalEntity", "product/ProductName",
    "product/productFamily", "product/region", "product/regionCode", "product/servicecode",
    "product/sku", "pricing/RateCode", "pricing/RateId", "pricing/publicOnDemandCost",
    "pricing/publicOnDemandRate", "pricing/term", "pricing/unit", "reservation/EffectiveCost",
    "reservation/SubscriptionId", "savingsPlan/SavingsPlanARN", "savingsPlan/SavingsPlanEffectiveCost",
]  # fmt: skip

CLOUDACT_PY_SCRIPT = (
    "import sys; from pathlib import Path; from cloudact_cli.convert import convert_files; "
    "r = convert_files('aws', [Path(sys.argv[1])], Path(sys.argv[2])); print(r)"
)


@dataclass
class Tool:
    """One contender: a command template and how to count its output rows."""

    key: str
    label: str
    command: str  # template: {input} {athena_input} {output} {python} {fc_bin}
    output_kind: str  # 'file' or 'dir'
    max_rows: int | None = None  # skip above this size
    skip_reason: str = ""


# --------------------------------------------------------------------------------------------------
# data and environment


def ensure_data(data_dir: Path, rows: int, seed: int) -> Path:
    path = data_dir / f"cur_legacy-{rows}-seed{seed}.csv"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        t = time.perf_counter()
        generate_legacy_cur_csv(path, rows, seed=seed)
        print(f"  {path.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t:.1f} s", flush=True)
    return path


def ensure_fc_input(src: Path) -> Path:
    """The same rows as Parquet with the Athena-style names focus-converter's AWS plan reads.

    focus-converter 1.0.0 cannot convert a CUR CSV: it reads every column as a string and its AWS
    plan then fails on the dates (``assign_utc_timezone``: "expected duration or datetime, got str")
    and on string arithmetic. It needs typed input with snake_case names (``bill_bill_type``), i.e.
    the Athena-integrated Parquet CUR, so it gets that: DuckDB types the CSV columns and renames
    them. Not timed; focus-converter is spared the CSV parsing the other tools do.
    """
    import duckdb

    dst = src.with_name(src.stem + "-athena.parquet")
    if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    tmp = dst.with_name(dst.name + ".tmp")
    cols = ", ".join(f'"{c}" AS {athena_column_name(c)}' for c in LEGACY_CUR_COLUMNS)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"COPY (SELECT {cols} FROM read_csv('{src}', header = true)) TO '{tmp}' (FORMAT parquet)")
    con.close()
    tmp.replace(dst)
    return dst


def ensure_focus_converter(venv: Path) -> Path:
    exe = venv / "bin" / "focus-converter"
    if exe.exists():
        return exe
    print(f"creating {venv} (focus-converter {FC_VERSION}) ...", flush=True)
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *FC_PIP], check=True)
    return exe


def _pkg_version(python: Path, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version('{dist}'))"
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "?"


def machine_info(fc_python: Path) -> dict[str, str]:
    cpu = "?"
    mem_gb = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": _pkg_version(VENV_PY, "duckdb"),
        "cloudact-costs": f"{commit.stdout.strip()}{' (dirty)' if dirty.stdout.strip() else ''}",
        "focus-converter": _pkg_version(fc_python, "focus-converter"),
        "focus-converter polars": _pkg_version(fc_python, "polars"),
    }


# --------------------------------------------------------------------------------------------------
# report


def _fmt_rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def render(results: list[Result], tools: dict[str, Tool], info: dict[str, str], args: argparse.Namespace) -> str:
    by = {(r.tool, r.rows): r for r in results}
    sizes = sorted({r.rows for r in results})
    lines = ["| rows | tool | runs | wall s (median) | rows/s | peak RSS MB (tree) | peak RSS MB (max proc) "
             "| vs focus-converter | vs bare DuckDB | rows out |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for n in sizes:
        fc = by.get(("focus-converter", n)) or by.get(("focus-converter", min(sizes)))
        bare = by.get(("bare-duckdb", n))
        for key in tools:
            r = by.get((key, n))
            if r is None:
                continue
            if not r.ok:
                failed = r.note or "failed"
                lines.append(f"| {n:,} | {tools[key].label} | {len(r.runs)} | - | - | - | - | - | - | {failed} |")
                continue
            wall = r.median("wall_s")
            vs_fc = "-"
            if fc and fc.ok and key != "focus-converter":
                ratio = (n / wall) / (fc.rows / fc.median("wall_s"))
                vs_fc = f"{ratio:.2f}x" + ("" if fc.rows == n else f" (vs {fc.rows:,})")
            vs_bare = f"{(n / wall) / (n / bare.median('wall_s')):.2f}x" if bare and bare.ok else "-"
            lines.append(
                f"| {n:,} | {tools[key].label} | {len(r.runs)} | {wall:.2f} | {_fmt_rate(n, wall)} "
                f"| {r.median('tree_rss_mb'):,.0f} | {r.median('max_rss_mb'):,.0f} | {vs_fc} | {vs_bare} "
                f"| {'-' if r.rows_out is None else f'{r.rows_out:,}'} |"
            )
    table = "\n".join(lines)

    targets = ["| target | measured | result |", "|---|---|---|"]
    ca = {n: by.get(("cloudact", n)) for n in sizes}
    fc1 = by.get(("focus-converter", min(sizes)))
    ca1 = ca.get(min(sizes))
    if ca1 and ca1.ok and fc1 and fc1.ok:
        ratio = (ca1.rows / ca1.median("wall_s")) / (fc1.rows / fc1.median("wall_s"))
        targets.append(f"| cloudact >= 3x focus-converter throughput ({min(sizes):,} rows) | {ratio:.2f}x "
                       f"| {'PASS' if ratio >= 3 else 'MISS'} |")  # fmt: skip
    else:
        targets.append("| cloudact >= 3x focus-converter throughput | not measured | - |")
    for n, r in ca.items():
        if r and r.ok:
            mb = r.median("tree_rss_mb")
            verdict = "PASS" if mb < 1024 else "MISS"
            targets.append(f"| cloudact peak memory < 1 GB ({n:,} rows) | {mb:,.0f} MB | {verdict} |")
    ok = [(n, r) for n, r in ca.items() if r and r.ok]
    if len(ok) >= 2:
        (n0, r0), (n1, r1) = ok[0], ok[-1]
        growth = r1.median("tree_rss_mb") / r0.median("tree_rss_mb")
        targets.append(f"| cloudact memory flat from {n0:,} to {n1:,} rows (<= 1.25x) | {growth:.2f}x "
                       f"| {'PASS' if growth <= 1.25 else 'MISS'} |")  # fmt: skip
    else:
        targets.append("| cloudact memory flat across sizes | needs two sizes | - |")

    notes = [f"- {tools[r.tool].label} at {r.rows:,} rows: {r.note}" for r in results if r.note]
    notes += [f"- {t.label}: {t.skip_reason}" for t in tools.values() if t.skip_reason]
    commands = "\n".join(f"# {tools[r.tool].label}, {r.rows:,} rows\n{r.command}" for r in results)
    env = "\n".join(f"| {k} | {v} |" for k, v in info.items())
    template = (ROOT / "benchmarks" / "template.md").read_text(encoding="utf-8")
    return (
        template.replace("{{machine}}", "| | |\n|---|---|\n" + env)
        .replace("{{results}}", table)
        .replace("{{targets}}", "\n".join(targets))
        .replace("{{notes}}", "\n".join(notes) or "- none")
        .replace("{{commands}}", f"```sh\n{commands}\n```")
        .replace("{{invocation}}", "`" + " ".join(shlex.quote(a) for a in sys.argv) + "`")
        .replace("{{seed}}", str(args.seed))
    )


# --------------------------------------------------------------------------------------------------
# main


def build_tools(args: argparse.Namespace, fc_exe: Path | None) -> dict[str, Tool]:
    cols = ",".join(BARE_COLUMNS)
    bare = Tool(
        "bare-duckdb",
        "bare DuckDB (40 cols CSV -> Parquet)",
        f"{{python}} {ROOT / 'benchmarks' / 'bare_duckdb.py'} {{input}} {{output}} {shlex.quote(cols)}",
        "file",
    )
    fc = Tool(
        "focus-converter",
        f"focus-converter {FC_VERSION}",
        f"{fc_exe} convert --provider aws --data-format parquet --parquet-data-format file "
        "--data-path {athena_input} --export-path {output}/ --export-format parquet",
        "dir",
        max_rows=args.focus_converter_max_rows,
        skip_reason=(
            f"run only up to {args.focus_converter_max_rows:,} rows: it loads the whole input into "
            "memory (polars.read_parquet/read_csv; several GB per 1M rows), so 10M rows would not fit "
            "in this machine's memory. It cannot read a CUR CSV (all columns come in as strings and its AWS "
            "plan fails on the dates), so it gets the same rows as typed Parquet with Athena-style "
            "names (bill_bill_type ...), prepared untimed."
        ),
    )
    if args.cloudact_cmd:
        ca_cmd = args.cloudact_cmd
    elif (ROOT / ".venv" / "bin" / "cloudact").exists():
        ca_cmd = f"{ROOT / '.venv' / 'bin' / 'cloudact'} convert --provider aws --input {{input}} --output {{output}}"
    else:
        ca_cmd = f"{{python}} -c {shlex.quote(CLOUDACT_PY_SCRIPT)} {{input}} {{output}}"
    ca = Tool("cloudact", "cloudact convert", ca_cmd, "file")
    tools = {"bare-duckdb": bare, "focus-converter": fc, "cloudact": ca}
    if fc_exe is None:
        del tools["focus-converter"]
    return {k: v for k, v in tools.items() if k in args.only}


def run_pipeline_path(rows: int, legacy_csv: Path, data_dir: Path, timeout: float) -> list[dict[str, object]]:
    """The pipeline path (benchmarks/pipeline_path.py) on the same legacy CSV, then on CUR 2.0 Parquet."""
    runs: list[dict[str, object]] = []
    script = ROOT / "benchmarks" / "pipeline_path.py"
    # moto holds an object whole in memory: a 10M-row CSV is delivered as 1M-row files, as AWS splits a large report.
    split = ["--split-rows", "1000000"] if rows >= 10_000_000 else []
    variants = [["--legacy-csv", str(legacy_csv), *split]]
    if rows <= 1_000_000:
        variants.append(["--format", "parquet"])
    for extra in variants:
        cmd = [str(VENV_PY), str(script), str(rows), "--work", str(data_dir / "pipeline"), *extra]
        print(f"[{rows:,}] pipeline path {' '.join(extra)} ...", end=" ", flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            print(f"failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        figures: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        figures["command"] = " ".join(shlex.quote(c) for c in cmd)
        print(f"{figures['total']:.2f} s, peak {figures['peak_rss_mb']:,.0f} MB", flush=True)
        runs.append(figures)
    shutil.rmtree(data_dir / "pipeline", ignore_errors=True)
    return runs


def render_pipeline(runs: list[dict[str, object]]) -> str:
    """The report section of the pipeline path (S3 -> ingest_svc -> raw table -> focus_svc -> FOCUS table)."""
    if not runs:
        return ""
    lines = [
        "",
        "## Pipeline path: S3 -> raw table -> FOCUS table",
        "",
        "`benchmarks/pipeline_path.py`: the same rows delivered to an S3 endpoint (moto server, its own",
        "process) and loaded through the real services over gRPC: credential_svc decrypts, ingest_svc",
        "downloads, stages and replaces the raw Delta slice, focus_svc converts it into the FOCUS table.",
        "Stage times come from the run's progress events; peak RSS is the process running the services",
        "(moto's in-memory copy of the export is not counted). One run per size. Memory is bounded by",
        "`CLOUDACT_MEMORY_BUDGET` (default 1GB; docs/memory-budget.md); a 10M-row CSV is delivered as ten",
        "1M-row files, as AWS splits a large report (moto holds an object whole in memory).",
        "",
        "| rows | source | total s | rows/s | download + parse s | raw write s | FOCUS s | peak RSS MB | budget MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        rows, total = float(str(r["rows"])), float(str(r["total"]))
        lines.append(
            f"| {rows:,.0f} | {r['source']} | {total:.2f} | {rows / total:,.0f} | "
            f"{float(str(r.get('reading_source', 0))):.2f} | {float(str(r.get('writing_raw', 0))):.2f} | "
            f"{float(str(r.get('converting_to_focus', 0))):.2f} | {float(str(r['peak_rss_mb'])):,.0f} "
            f"| {float(str(r.get('budget_mb', 0))):,.0f} |"
        )
    lines += ["", "```sh", *[str(r["command"]) for r in runs], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000000,10000000", help="comma-separated row counts")
    p.add_argument("--repeats", default="", help="e.g. '1000000:3,10000000:1' (default 3 up to 1M, else 1)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data-dir", type=Path, default=ROOT / "bench-data")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument(
        "--only",
        default="x781,profile,small-file,bare-duckdb,focus-converter,cloudact,pipeline,query",
        help="tools and cases to run",
    )
    p.add_argument("--x781-rounds", type=int, default=5, help="rounds of the three tools on the sample x781")
    p.add_argument("--query-rows", type=int, default=10_000_000, help="rows of the FOCUS table query_svc answers from")
    p.add_argument("--small-file-repeats", type=int, default=9, help="runs per tool on the 1,281-row sample")
    p.add_argument(
        "--pipeline-max-rows",
        type=int,
        default=10_000_000,
        help="largest size the S3 -> raw -> FOCUS pipeline path is measured at",
    )
    p.add_argument("--focus-converter-max-rows", type=int, default=1_000_000)
    p.add_argument("--cloudact-cmd", default="", help="command template; {input} {output} {python}")
    p.add_argument("--timeout", type=float, default=1200.0, help="seconds per run before it is killed")
    p.add_argument("--providers", default=",".join(PROVIDERS), help="registered providers to measure ('' for none)")
    p.add_argument("--provider-rows", type=int, default=1_000_000, help="rows per provider file")
    p.add_argument("--provider-repeats", type=int, default=3)
    args = p.parse_args(argv)
    args.only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    repeats = {int(k): int(v) for k, v in (x.split(":") for x in args.repeats.split(",") if x)}
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)

    fc_venv = data_dir / ".venv-focus-converter"
    wants_fc = bool({"focus-converter", "small-file", "x781"} & args.only)
    fc_exe = ensure_focus_converter(fc_venv) if wants_fc else None
    tools = build_tools(args, fc_exe)
    info = machine_info(fc_venv / "bin" / "python")
    results: list[Result] = []
    pipeline_runs: list[dict[str, object]] = []
    out_dir = data_dir / "out"

    small_file: list[Result] = []
    cloudact_exe = ROOT / ".venv" / "bin" / "cloudact"
    x781: list[Result] = []
    if "x781" in args.only and fc_exe is not None:
        x781 = run_sample_x781(data_dir, cloudact_exe, fc_exe, VENV_PY, BARE_COLUMNS, args.x781_rounds, args.timeout)
    if "small-file" in args.only and fc_exe is not None:
        small_file = run_small_file(cloudact_exe, fc_exe, args.small_file_repeats, out_dir / "small", args.timeout)

    for n in sizes:
        free = shutil.disk_usage(data_dir).free
        need = n * CSV_BYTES_PER_ROW * (2.6 if n <= args.focus_converter_max_rows else 1.3)
        if not (data_dir / f"cur_legacy-{n}-seed{args.seed}.csv").exists() and free < need:
            print(f"skipping {n:,} rows: {free / 1e9:.0f} GB free, ~{need / 1e9:.0f} GB needed", flush=True)
            continue
        src = ensure_data(data_dir, n, args.seed)
        warm_page_cache(src)
        for key, tool in tools.items():
            if tool.max_rows is not None and n > tool.max_rows:
                continue
            athena = ensure_fc_input(src) if "{athena_input}" in tool.command else src
            if athena != src:
                warm_page_cache(athena)
            reps = repeats.get(n, 3 if n <= 1_000_000 else 1)
            res = Result(key, n)
            for i in range(reps):
                target = out_dir / f"{key}-{n}" / ("focus" if tool.output_kind == "dir" else "focus.parquet")
                shutil.rmtree(target.parent, ignore_errors=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                cmd = tool.command.format(input=src, athena_input=athena, output=target, python=VENV_PY,
                                          fc_bin=fc_exe)  # fmt: skip
                res.command = cmd
                print(f"[{n:,}] {tool.label} run {i + 1}/{reps} ...", end=" ", flush=True)
                run = measure(shlex.split(cmd), target.parent.with_suffix(".log"), args.timeout)
                res.runs.append(run)
                print(f"{run.wall_s:.2f} s, tree {run.tree_rss_mb:,.0f} MB, max proc {run.max_rss_mb:,.0f} MB, "
                      f"rc={run.returncode}", flush=True)  # fmt: skip
                if run.returncode != 0:
                    res.note = failure_note(run, target.parent.with_suffix(".log"), args.timeout)
                    break
            if res.ok:
                res.rows_out = count_rows(target, tool.output_kind)
                quarantine = target.with_name(target.name + ".quarantine.csv")
                if quarantine.exists():
                    res.note = f"{count_rows(quarantine, 'file') or 0:,} input rows quarantined ({quarantine.name})"
            results.append(res)
            shutil.rmtree(out_dir / f"{key}-{n}", ignore_errors=True)
        if "pipeline" in args.only and n <= args.pipeline_max_rows:
            pipeline_runs += run_pipeline_path(n, src, data_dir, args.timeout)

    providers = [name for name in args.providers.split(",") if name]
    provider_results = run_providers(
        providers, args.provider_rows, args.provider_repeats, data_dir, VENV_PY, fc_exe, args.timeout
    )
    profile_cases: dict[str, tuple[str, Path]] = {}
    if "profile" in args.only:
        profile_cases[f"aws, sample x781 ({data_dir / 'cur_sample_x781.csv'})"] = ("aws", build_x781(data_dir))
        for name, src in provider_inputs(providers, args.provider_rows, data_dir).items():
            profile_cases[f"{name}, {src.name}"] = (name, src)
    profiles = run_profiles(profile_cases, VENV_PY, args.timeout)
    query = run_query_bench(args.query_rows, data_dir / "query") if "query" in args.only else None
    fc_label = f"focus-converter {FC_VERSION}"
    convert_1m = next((r for r in results if r.tool == "cloudact" and r.rows == 1_000_000 and r.ok), None)
    summary = render_summary(
        x781,
        provider_results,
        pipeline_runs,
        convert_1m.median("wall_s") if convert_1m else None,
        query,
        profiles,
    )
    report = (
        render(results, tools, info, args).replace("{{summary}}", summary)
        + render_sample_x781(x781)
        + render_profiles(profiles, profile_cases)
        + render_small_file(small_file, {"cloudact": "cloudact convert", "focus-converter": fc_label})
        + render_pipeline(pipeline_runs)
        + (render_query(query) if query is not None else "")
        + render_providers(provider_results, fc_label)
    )
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(report, encoding="utf-8")
    every = results + x781 + small_file + provider_results
    payload = {"machine": info, "results": [asdict(r) | {"ok": r.ok} for r in every]}
    (data_dir / "results.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
