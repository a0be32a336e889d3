"""`make bench`, other clouds: Azure, OCI and GCP export files -> FOCUS 1.3, side by side.

Per provider, one real export sample is scaled to N rows (``scale_sample``): the sample's rows
repeated, with the provider's identifying columns made unique per copy (``-c<copy>`` appended), so
no tool can profit from duplicate rows and the dates stay inside the sample's billing month. Then
three tools convert the same file, each in its own process (``benchmarks.measure``):

* bare DuckDB: the file read and written to Parquet as is, every column: the floor;
* focus-converter 1.0.0, where it converts that provider (Azure cost details, OCI cost reports, GCP
  as the nested BigQuery export);
* ``cloudact convert --provider P``.

Medians of the repeats; ratios are against focus-converter measured in the same run.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from benchmarks.measure import ROOT, Result, count_rows, measure, warm_page_cache
from cloudact_cli.synthetic.gcp import write_gcp_export_parquet

SAMPLES = ROOT / "tests" / "data" / "samples"


def _gcp_nested_sample(data_dir: Path) -> Path:
    """A month of the nested BigQuery billing export as Parquet (cloudact's GCP generator)."""
    path = data_dir / "gcp-sample-month.parquet"
    return path if path.exists() else write_gcp_export_parquet(path, projects=10)


@dataclass(frozen=True)
class ProviderBench:
    """One provider's bench input and how focus-converter reads it."""

    provider: str
    sample: Callable[[Path], Path]
    """Returns the sample file (made in the given directory when it is generated)."""
    vary: tuple[str, ...]
    """Columns made unique per copy when the sample is scaled up (ids the mapping may key on)."""
    fc_args: str | None
    """focus-converter's ``--data-format ...`` arguments for this input; None: it cannot read it."""


def _shared(relative: str) -> Callable[[Path], Path]:
    return lambda _dir: SAMPLES / relative


PROVIDERS: dict[str, ProviderBench] = {
    "azure": ProviderBench(
        "azure",
        _shared("azure/ea_actual_sample-anonymous-ea-export-dataset.csv"),
        ("ResourceId", "ResourceName"),
        "--data-format csv",
    ),
    "oci": ProviderBench(
        "oci",
        _shared("oci/reports_cost-csv_0000000030000269.csv"),
        ("lineItem/referenceNo", "lineItem/backreferenceNo", "product/resourceId"),
        "--data-format csv",
    ),
    "gcp": ProviderBench("gcp", _gcp_nested_sample, (), "--data-format parquet --parquet-data-format file"),
}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scale_sample(sample: Path, rows: int, dest: Path, vary: tuple[str, ...]) -> Path:
    """Writes ``rows`` rows made of copies of ``sample`` to ``dest`` (same format as the sample)."""
    if dest.exists():
        return dest
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    is_csv = sample.suffix == ".csv"
    reader = (
        f"read_csv({_literal(str(sample))}, header = true, all_varchar = true)"
        if is_csv
        else f"read_parquet({_literal(str(sample))})"
    )
    names = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    sample_rows = int(con.sql(f"SELECT count(*) FROM {reader}").fetchall()[0][0])
    copies = -(-rows // sample_rows)
    cols = ", ".join(
        f"CASE WHEN s.{_quoted(n)} IS NULL OR s.{_quoted(n)} = '' THEN s.{_quoted(n)} "
        f"ELSE s.{_quoted(n)} || '-c' || c.copy END AS {_quoted(n)}"
        if n in vary
        else f"s.{_quoted(n)}"
        for n in names
    )
    # Copies in order (all of copy 0, then copy 1 ...) so every row group holds the sample's mix.
    select = (
        f"SELECT {cols} FROM range({copies}) c(copy), {reader} s ORDER BY c.copy LIMIT {rows}"
        if vary
        else f"SELECT s.* FROM range({copies}) c(copy), {reader} s ORDER BY c.copy LIMIT {rows}"
    )
    tmp = dest.with_name(dest.name + ".tmp")
    options = "FORMAT csv, HEADER true" if is_csv else "FORMAT parquet, COMPRESSION zstd"
    con.execute(f"COPY ({select}) TO {_literal(str(tmp))} ({options})")
    con.close()
    tmp.replace(dest)
    return dest


def provider_inputs(names: list[str], rows: int, data_dir: Path) -> dict[str, Path]:
    """Each provider's bench file of ``rows`` rows (generated once, cached in ``data_dir``)."""
    inputs: dict[str, Path] = {}
    for name in names:
        bench = PROVIDERS[name]
        sample = bench.sample(data_dir)
        inputs[name] = scale_sample(sample, rows, data_dir / f"{name}-{rows}{sample.suffix}", bench.vary)
    return inputs


def commands(name: str, src: Path, out_dir: Path, python: Path, fc_exe: Path | None) -> dict[str, tuple[str, str]]:
    """tool key -> (command, output kind: 'file' | 'dir')."""
    bare = f"{python} {ROOT / 'benchmarks' / 'bare_duckdb.py'} {src} {out_dir / 'bare-duckdb' / 'out.parquet'} '*'"
    cloudact = (
        f"{ROOT / '.venv' / 'bin' / 'cloudact'} convert --provider {name} --input {src} "
        f"--output {out_dir / 'cloudact' / 'focus.parquet'}"
    )
    tools = {"bare-duckdb": (bare, "file"), "cloudact": (cloudact, "file")}
    fc_args = PROVIDERS[name].fc_args
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
                    log = target.parent.with_suffix(".log").read_text(errors="replace").strip().splitlines()
                    res.note = f"exit {run.returncode}: " + (log[-1][:200] if log else "no output")
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
        "## Azure, OCI and GCP: export file -> FOCUS",
        "",
        "`benchmarks/providers.py`: a real sample per provider scaled to the row count (ids made unique per",
        "copy): Azure EA cost details CSV (the anonymised EA sample), OCI cost report CSV, GCP nested",
        "BigQuery export as Parquet (cloudact's generator). Medians of the runs; the ratio is throughput",
        "against focus-converter on the same file in the same run.",
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
