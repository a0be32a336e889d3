"""The first section of `make bench`'s report: every target of issue 10 with PASS or MISS.

Each figure comes from a section further down, measured in the same run; a MISS names the stage
its time goes to (`benchmarks/profile.py`), so the reason sits beside the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from benchmarks.measure import Result
from benchmarks.profile import STAGES

MEMORY_MB = 10**9 / 2**20  # 1 GB = 10^9 bytes, in the MiB the figures are given in (953.7)
PIPELINE_VS_CONVERT = 2.0


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def _stages(profile: Mapping[str, float] | None) -> str:
    if not profile:
        return ""
    total = sum(profile[s] for s in STAGES) or 1.0
    ranked = sorted(STAGES, key=lambda s: -profile[s])
    return "time on one thread: " + ", ".join(f"{s} {profile[s] / total:.0%}" for s in ranked)


def _profile_of(profiles: Mapping[str, Mapping[str, float]], prefix: str) -> Mapping[str, float] | None:
    return next((figures for label, figures in profiles.items() if label.startswith(prefix)), None)


def render_summary(
    x781: Sequence[Result],
    providers: Sequence[Result],
    pipeline: Sequence[Mapping[str, object]],
    convert_1m_s: float | None,
    query: Mapping[str, object] | None,
    profiles: Mapping[str, Mapping[str, float]],
) -> str:
    """The table of targets: what, measured, PASS/MISS, and where the time goes for a conversion."""
    rows: list[tuple[str, str, bool | None, str]] = []
    by = {r.tool: r for r in x781}
    ca, fc, bare = by.get("cloudact"), by.get("focus-converter"), by.get("bare-duckdb")
    aws_profile = _stages(_profile_of(profiles, "aws"))
    if ca and ca.ok and fc and fc.ok:
        ratio = fc.median("wall_s") / ca.median("wall_s")
        rows.append(
            ("cloudact convert >= 3x focus-converter, sample x781 CSV", f"{ratio:.2f}x", ratio >= 3, aws_profile)
        )
    else:
        rows.append(("cloudact convert >= 3x focus-converter, sample x781 CSV", "not measured", None, ""))
    if ca and ca.ok and bare and bare.ok:
        ratio = ca.median("wall_s") / bare.median("wall_s")
        rows.append(
            ("cloudact convert within 1.5x of bare DuckDB, same CSV", f"{ratio:.2f}x", ratio <= 1.5, aws_profile)
        )
    if ca and ca.ok:
        mb = ca.median("tree_rss_mb")
        rows.append(("cloudact convert < 1 GB, sample x781 CSV", f"{mb:,.0f} MB", mb < MEMORY_MB, ""))
    by_provider = {r.tool: r for r in providers}
    for name in ("azure", "oci", "gcp"):
        cloudact, converter = by_provider.get(f"{name}:cloudact"), by_provider.get(f"{name}:focus-converter")
        target = f"{name}: cloudact convert >= 3x focus-converter, 1M rows"
        if cloudact and cloudact.ok and converter and converter.ok:
            ratio = converter.median("wall_s") / cloudact.median("wall_s")
            rows.append((target, f"{ratio:.2f}x", ratio >= 3, _stages(_profile_of(profiles, name))))
        elif cloudact and cloudact.ok and converter and converter.note.startswith("killed at"):
            # It ran that long without finishing: the ratio is at least this much.
            ratio = converter.runs[-1].wall_s / cloudact.median("wall_s")
            measured = f"> {ratio:.1f}x (focus-converter {converter.note})"
            rows.append((target, measured, ratio >= 3, _stages(_profile_of(profiles, name))))
        elif cloudact and cloudact.ok and converter:
            rows.append((target, f"focus-converter failed: {converter.note}", None, ""))
        else:
            rows.append((target, "not measured", None, ""))
    for run in pipeline:
        count, source = float(str(run["rows"])), str(run["source"])
        peak = float(str(run["peak_rss_mb"]))
        rows.append(
            (
                f"pipeline S3 -> raw -> FOCUS <= 1 GB, {count:,.0f} rows ({source})",
                f"{peak:,.0f} MB",
                peak <= MEMORY_MB,
                "",
            )
        )
        if convert_1m_s and count == 1_000_000 and "CSV" in source:
            ratio = float(str(run["total"])) / convert_1m_s
            rows.append(
                ("pipeline within 2x of convert, same 1M-row CSV", f"{ratio:.2f}x", ratio <= PIPELINE_VS_CONVERT, "")
            )
    if query is not None:
        targets = query.get("targets", [])
        assert isinstance(targets, list)
        for target in targets:
            rows.append((f"query_svc: {target['target']}", str(target["measured"]), bool(target["pass"]), ""))
    lines = [
        "",
        "## Issue 10's targets, this run",
        "",
        "| target | measured | result | where a conversion's time goes |",
        "|---|---|---|---|",
        *(f"| {what} | {measured} | {_verdict(ok)} | {why} |" for what, measured, ok, why in rows),
        "",
    ]
    return "\n".join(lines)
