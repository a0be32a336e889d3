"""`make bench`, every registered provider: a synthetic export file -> FOCUS 1.3, side by side.

Per provider, its registered generator (``ProviderSpec.synthetic_generator``) writes an export file
of N rows (AWS a legacy CUR CSV, Azure EA cost details CSV, OCI a cost report CSV, GCP the nested
BigQuery export as Parquet; each a mix of charge kinds repeated with its ids made unique per copy,
so no tool can profit from duplicate rows). Then three tools convert the same file, each in its own
process (``benchmarks.measure``):

* bare DuckDB: the file read and written to Parquet as is, every column: the floor;
* focus-converter 1.0.0, where it converts that provider's file (``FOCUS_CONVERTER_ARGS``; its
  AWS reader needs Athena column names, which the AWS section of ``run.py`` measures);
* ``cloudact convert --provider P``.

Medians of the repeats; ratios are against focus-converter measured in the same run.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from benchmarks.measure import ROOT, Result, count_rows, failure_note, measure, warm_page_cache
from cloudact_providers.registry import known_providers, registration

PROVIDERS = known_providers()
"""The providers measured by default: every registered one."""

FOCUS_CONVERTER_ARGS = {
    "azure": "--data-format csv",
    "oci": "--data-format csv",
    "gcp": "--data-format parquet --parquet-data-format file",
}
"""focus-converter's ``--data-format ...`` arguments for the generated file of a provider it reads."""


def provider_inputs(names: list[str], rows: int, data_dir: Path) -> dict[str, Path]:
    """Each provider's bench file of ``rows`` rows (generated once, cached in ``data_dir/<provider>``)."""
    inputs: dict[str, Path] = {}
    for name in names:
        directory = data_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        inputs[name] = registration(name).synthetic_generator()(directory, rows)
    return inputs


def commands(name: str, src: Path, out_dir: Path, python: Path, fc_exe: Path | None) -> dict[str, tuple[str, str]]:
    """tool key -> (command, output kind: 'file' | 'dir')."""
    bare = f"{python} {ROOT / 'benchmarks' / 'bare_duckdb.py'} {src} {out_dir / 'bare-duckdb' / 'out.parquet'} '*'"
    cloudact = (
        f"{ROOT / '.venv' / 'bin' / 'cloudact'} convert --provider {name} --input {src} "
        f"--output {out_dir / 'cloudact' / 'focus.parquet'}"
    )
    tools = {"bare-duckdb": (bare, "file"), "cloudact": (cloudact, "file")}
    fc_args = FOCUS_CONVERTER_ARGS.get(name)
    if fc_exe is not None and fc_args is not None:
        tools["focus-converter"] = (
            f"{fc_exe} convert --provider {name} {fc_args} --data-path {src} "
            f"--export-path {out_dir / 'focus-converter' / 'focus'}/ --export-format parquet",
            "dir",
        )
    return tools


def run_providers(
    names: list[str], rows: int, repeats: int, data_dir: Path, python: Path, fc_exe: Path | None, timeout: float
) -> list[Result]:
    """Measures every tool on every provider's file; one Result per (provider, tool)."""
    results: list[Result] = []
    for name, src in provider_inputs(names, rows, data_dir).items():
        warm_page_cache(src)
        out_dir = data_dir / "out" / f"{name}-{rows}"
        for key, (cmd, kind) in commands(name, src, out_dir, python, fc_exe).items():
            res = Result(f"{name}:{key}", rows, command=cmd)
            target = (
                out_dir
                / key
                / ("focus" if kind == "dir" else ("out.parquet" if key == "bare-duckdb" else "focus.parquet"))
            )
            for i in range(repeats):
                shutil.rmtree(target.parent, ignore_errors=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                print(f"[{name} {rows:,}] {key} run {i + 1}/{repeats} ...", end=" ", flush=True)
                run = measure(shlex.split(cmd), target.parent.with_suffix(".log"), timeout)
                res.runs.append(run)
                print(f"{run.wall_s:.2f} s, tree {run.tree_rss_mb:,.0f} MB, rc={run.returncode}", flush=True)
                if run.returncode != 0:
                    res.note = failure_note(run, target.parent.with_suffix(".log"), timeout)
                    break
            if res.ok:
                res.rows_out = count_rows(target, kind)
                quarantine = target.with_name(target.name + ".quarantine.csv")
                if quarantine.exists():
                    res.note = f"{count_rows(quarantine, 'file') or 0:,} input rows quarantined"
            results.append(res)
        shutil.rmtree(out_dir, ignore_errors=True)
    return results


_LABELS = {"bare-duckdb": "bare DuckDB (file -> Parquet, all columns)", "cloudact": "cloudact convert"}


def render_providers(results: list[Result], fc_label: str) -> str:
    """The report section: one table row per (provider, tool), ratios against focus-converter."""
    if not results:
        return ""
    by = {r.tool: r for r in results}
    lines = [
        "",
        "## Every provider: synthetic export file -> FOCUS",
        "",
        "`benchmarks/providers.py`: each registered provider's generator writes an export file of the row",
        "count (a mix of charge kinds repeated, ids made unique per copy): AWS legacy CUR CSV, Azure EA cost",
        "details CSV, OCI cost report CSV, GCP nested BigQuery export as Parquet. Medians of the runs; the",
        "ratio is throughput against focus-converter on the same file in the same run.",
        "",
        "| provider | rows | tool | runs | wall s (median) | rows/s | peak RSS MB (tree) | vs focus-converter "
        "| vs bare DuckDB | rows out | note |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        name, key = r.tool.split(":", 1)
        label = fc_label if key == "focus-converter" else _LABELS[key]
        if not r.ok:
            lines.append(f"| {name} | {r.rows:,} | {label} | {len(r.runs)} | - | - | - | - | - | - | {r.note} |")
            continue
        wall = r.median("wall_s")
        fc, bare = by.get(f"{name}:focus-converter"), by.get(f"{name}:bare-duckdb")
        vs_fc = f"{fc.median('wall_s') / wall:.2f}x" if fc and fc.ok and key != "focus-converter" else "-"
        vs_bare = f"{bare.median('wall_s') / wall:.2f}x" if bare and bare.ok and key != "bare-duckdb" else "-"
        rows_out = "-" if r.rows_out is None else f"{r.rows_out:,}"
        lines.append(
            f"| {name} | {r.rows:,} | {label} | {len(r.runs)} | {wall:.2f} | {r.rows / wall:,.0f} "
            f"| {r.median('tree_rss_mb'):,.0f} | {vs_fc} | {vs_bare} | {rows_out} | {r.note} |"
        )
    lines += ["", "```sh", *[r.command for r in results], "```", ""]
    return "\n".join(lines)
