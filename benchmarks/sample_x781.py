"""`make bench`, the headline case: AWS's public legacy CUR sample repeated 781 times (1,000,461 rows).

The measurement issue 10 states its target on, kept exactly: the vendored anonymised sample
(``tests/data/samples/aws``, see its SOURCES.md) with its 1,281 data rows written 781 times under one
header, and each tool given that CSV itself: ``cloudact convert --provider aws``, focus-converter
1.0.0's ``aws-cur`` plan with ``--data-format csv``, and bare DuckDB reading the ~40 columns a
conversion needs and writing them to Parquet (the floor of any CSV -> Parquet tool). The three run
in turn, round after round, so a noisy neighbour falls on all of them alike; the figures are medians,
and each ratio is also given pair by pair (round by round).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.measure import Result, count_rows, run_rounds, warm_page_cache
from benchmarks.small_file import SAMPLE

COPIES = 781
TARGET_VS_FC = 3.0  # issue 10: at least 3x focus-converter's throughput
TARGET_VS_BARE = 1.5  # issue 10: within 1.5x of bare DuckDB's wall time
MEMORY_MB = 1024


def build_input(data_dir: Path) -> Path:
    """The sample's data rows ``COPIES`` times under its header (cached; the same bytes every time)."""
    path = data_dir / f"cur_sample_x{COPIES}.csv"
    if path.exists():
        return path
    data = SAMPLE.read_bytes()
    header, _, body = data.partition(b"\n")
    body = body if body.endswith(b"\n") else body + b"\n"
    partial = path.with_name(path.name + ".tmp")
    with partial.open("wb") as out:
        out.write(header + b"\n")
        for _ in range(COPIES):
            out.write(body)
    partial.replace(path)
    return path


def commands(
    source: Path, cloudact_exe: Path, fc_exe: Path, python: Path, bare_columns: list[str]
) -> dict[str, tuple[str, list[str], str]]:
    """Each tool's label, argv template ({output}) and output kind ('file' or 'dir')."""
    bare_script = Path(__file__).with_name("bare_duckdb.py")
    return {
        "cloudact": (
            "cloudact convert",
            [str(cloudact_exe), "convert", "--provider", "aws", "--input", str(source), "--output", "{output}"],
            "file",
        ),
        "focus-converter": (
            "focus-converter 1.0.0",
            [str(fc_exe), "convert", "--provider", "aws-cur", "--data-format", "csv", "--data-path", str(source),
             "--export-path", "{output}/", "--export-format", "parquet"],
            "dir",
        ),
        "bare-duckdb": (
            "bare DuckDB (40 cols CSV -> Parquet)",
            [str(python), str(bare_script), str(source), "{output}", ",".join(bare_columns)],
            "file",
        ),
    }  # fmt: skip


def run_sample_x781(
    data_dir: Path, cloudact_exe: Path, fc_exe: Path, python: Path, bare_columns: list[str], rounds: int, timeout: float
) -> list[Result]:
    """The three tools on the repeated sample, one run each per round; one Result per tool."""
    source = build_input(data_dir)
    tools = commands(source, cloudact_exe, fc_exe, python, bare_columns)
    warm_page_cache(source)
    rows = count_rows(source, "file") or 0
    return run_rounds(tools, rows, rounds, data_dir / "out" / "x781", timeout, f"x{COPIES}")


def _pairwise(numerator: Result, denominator: Result) -> list[float]:
    return [a.wall_s / b.wall_s for a, b in zip(numerator.runs, denominator.runs, strict=False)]


def render_sample_x781(results: list[Result]) -> str:
    """The report section: the three tools, the two targets with PASS/MISS, and the commands."""
    if not results:
        return ""
    by = {r.tool: r for r in results}
    ca, fc, bare = by["cloudact"], by.get("focus-converter"), by.get("bare-duckdb")
    lines = [
        "",
        f"## The headline case: AWS's legacy CUR sample x{COPIES} ({ca.rows:,} rows, one CSV)",
        "",
        f"`benchmarks/sample_x781.py`: the vendored 1,281-row sample written {COPIES} times under one header;",
        "each tool reads that CSV itself (focus-converter with `--provider aws-cur --data-format csv`).",
        "The tools run in turn, one run each per round; medians, and the ratios round by round.",
        "",
        "| tool | runs | wall s (median) | wall s (min-max) | peak RSS MB (tree) | rows out |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        label = {"cloudact": "cloudact convert", "focus-converter": "focus-converter 1.0.0"}.get(r.tool, "bare DuckDB")
        if not r.ok:
            lines.append(f"| {label} | {len(r.runs)} | - | - | - | {r.note or 'failed'} |")
            continue
        walls = [x.wall_s for x in r.runs]
        lines.append(
            f"| {label} | {len(r.runs)} | {r.median('wall_s'):.2f} | {min(walls):.2f}-{max(walls):.2f} "
            f"| {r.median('tree_rss_mb'):,.0f} | {r.rows_out if r.rows_out is not None else '-'} |"
        )
    lines += ["", "| target | measured | result |", "|---|---|---|"]
    if ca.ok and fc and fc.ok:
        pairs = _pairwise(fc, ca)
        ratio = fc.median("wall_s") / ca.median("wall_s")
        verdict = "PASS" if ratio >= TARGET_VS_FC else "MISS"
        lines.append(
            f"| cloudact >= {TARGET_VS_FC:g}x focus-converter's throughput | {ratio:.2f}x "
            f"(rounds {min(pairs):.2f}-{max(pairs):.2f}x, median {statistics.median(pairs):.2f}x) | {verdict} |"
        )
    if ca.ok and bare and bare.ok:
        pairs = _pairwise(ca, bare)
        ratio = ca.median("wall_s") / bare.median("wall_s")
        verdict = "PASS" if ratio <= TARGET_VS_BARE else "MISS"
        lines.append(
            f"| cloudact wall <= {TARGET_VS_BARE:g}x bare DuckDB's | {ratio:.2f}x "
            f"(rounds {min(pairs):.2f}-{max(pairs):.2f}x) | {verdict} |"
        )
    if ca.ok:
        mb = ca.median("tree_rss_mb")
        lines.append(f"| cloudact peak memory < 1 GB | {mb:,.0f} MB | {'PASS' if mb < MEMORY_MB else 'MISS'} |")
    lines += ["", "```sh", *[r.command for r in results], "```", ""]
    return "\n".join(lines)
