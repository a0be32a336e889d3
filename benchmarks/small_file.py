"""`make bench`, the small-file case: AWS's public 1,281-row legacy CUR sample -> FOCUS 1.3.

A user converting one real export file waits for start-up as much as for the conversion, so this
case measures the whole command on the file a new user tries first: the vendored anonymised CUR
sample (``tests/data/samples/aws``, see its SOURCES.md). Both tools read that same CSV:
``cloudact convert --provider aws`` and focus-converter 1.0.0's ``aws-cur`` plan with
``--data-format csv`` (which reads this small file; the synthetic 1M-row file it cannot, see the
notes of the AWS section). Runs alternate between the tools, so machine noise falls on both alike;
the figures are medians, the ratio is cloudact's median wall over focus-converter's.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.measure import ROOT, Result, count_rows, run_rounds, warm_page_cache

SAMPLE = ROOT / "tests" / "data" / "samples" / "aws" / "cur_legacy_sample-anonymous-aws-export-dataset.csv"
TARGET_RATIO = 0.5  # issue 8: at most half focus-converter's wall time on the same file


def commands(cloudact_exe: Path, fc_exe: Path) -> dict[str, tuple[str, list[str], str]]:
    """Each tool's label, argv template ({output}) and output kind ('file' or 'dir')."""
    return {
        "cloudact": (
            "cloudact convert",
            [str(cloudact_exe), "convert", "--provider", "aws", "--input", str(SAMPLE), "--output", "{output}"],
            "file",
        ),
        "focus-converter": (
            "focus-converter 1.0.0",
            [
                str(fc_exe),
                "convert",
                "--provider",
                "aws-cur",
                "--data-format",
                "csv",
                "--data-path",
                str(SAMPLE),
                *("--export-path", "{output}/", "--export-format", "parquet"),
            ],
            "dir",
        ),
    }


def run_small_file(cloudact_exe: Path, fc_exe: Path, repeats: int, out_dir: Path, timeout: float) -> list[Result]:
    """Both tools on the sample, ``repeats`` times each, alternating; one Result per tool."""
    warm_page_cache(SAMPLE)
    return run_rounds(
        commands(cloudact_exe, fc_exe), count_rows(SAMPLE, "file") or 0, repeats, out_dir, timeout, "sample"
    )


def render_small_file(results: list[Result], labels: dict[str, str]) -> str:
    """The report section: the table, the target and the commands."""
    if not results:
        return ""
    by = {r.tool: r for r in results}
    rows = by["cloudact"].rows
    lines = [
        "",
        f"## One real file: AWS's {rows:,}-row legacy CUR sample",
        "",
        "The whole command, start-up included, on the public anonymised sample vendored in",
        "`tests/data/samples/aws` (`benchmarks/small_file.py`). Both tools read the same CSV; runs",
        "alternate between them. Medians.",
        "",
        "| tool | runs | wall s (median) | wall s (min) | peak RSS MB (tree) | rows out | wall vs focus-converter |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    fc = by.get("focus-converter")
    for r in results:
        if not r.ok:
            lines.append(f"| {labels[r.tool]} | {len(r.runs)} | - | - | - | - | {r.note or 'failed'} |")
            continue
        vs = f"{r.median('wall_s') / fc.median('wall_s'):.2f}x" if fc and fc.ok and r is not fc else "-"
        lines.append(
            f"| {labels[r.tool]} | {len(r.runs)} | {r.median('wall_s'):.2f} | {min(x.wall_s for x in r.runs):.2f} "
            f"| {r.median('tree_rss_mb'):,.0f} | {r.rows_out if r.rows_out is not None else '-'} | {vs} |"
        )
    ca = by["cloudact"]
    if ca.ok and fc and fc.ok:
        ratio = ca.median("wall_s") / fc.median("wall_s")
        verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
        lines += ["", "| target | measured | result |", "|---|---|---|"]
        target = f"cloudact convert wall <= {TARGET_RATIO}x focus-converter's ({rows:,} rows)"
        lines.append(f"| {target} | {ratio:.2f}x | {verdict} |")
    lines += ["", "```sh", *[r.command for r in results], "```", ""]
    return "\n".join(lines)
