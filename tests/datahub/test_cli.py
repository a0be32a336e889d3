"""``cloudact events upload FILE --org ORG``: CSV and JSON lines streamed to EventsService, each rejected
row reported with its row number, field and reason, exit 1 when any was rejected."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cloudact_cli import events as events_cli
from cloudact_cli.main import app
from cloudact_providers.datahub.events import FIELDS
from cloudact_shared.settings import CloudactSettings
from tests.conftest import DATA, Services
from tests.datahub.helpers import ORG, event, focus_rows


async def _cloudact(monkeypatch: pytest.MonkeyPatch, settings: CloudactSettings, *args: str) -> Result:
    """Runs ``cloudact`` as an operator of the org (in a thread: the command runs its own event loop)."""
    monkeypatch.setattr(events_cli, "_settings", lambda: settings)
    return await asyncio.to_thread(lambda: CliRunner().invoke(app, list(args)))


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})
    return path


async def test_a_csv_file_uploads_and_its_bad_rows_are_reported(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = _csv(
        tmp_path / "events.csv",
        [
            event("csv-1", labels=[{"key": "team", "value": "web"}]),
            event("csv-2", cost="twelve"),  # the server rejects it
            event("csv-3", labels="team=web"),  # not even an event message: rejected here
            event("csv-4", cloud="Datadog", service_description="Infrastructure Monitoring", labels={"env": "prod"}),
        ],
    )

    done = await _cloudact(monkeypatch, services.caller(ORG, "operator"), "events", "upload", str(source), "--org", ORG)

    assert done.exit_code == 1, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == f"{source}: 4 events read, 2 accepted, 2 rejected"
    assert lines[1] == "  row 2 (event_id csv-2): cost: not a decimal number"
    expected = "not JSON: expected an array of {key, value} records or an object"
    assert lines[2] == f"  row 3 (event_id csv-3): labels: {expected}"
    assert lines[3].startswith("run ") and "2025-01: 2 raw rows, 2 FOCUS rows" in lines[3]
    rows = focus_rows(services.settings)
    assert sorted(r["ServiceProviderName"] for r in rows) == ["Datadog", "Snowflake"]


async def test_a_json_lines_file_uploads_whole(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "events.ndjson"
    source.write_text(
        "\n".join(json.dumps(e) for e in [event("j-1", cost=1.5), event("j-2", usage_date_time="2025-01-31")]) + "\n\n"
    )

    operator = services.caller(ORG, "operator")
    done = await _cloudact(monkeypatch, operator, "events", "upload", str(source), "--org", ORG, "--batch-size", "1")

    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[0] == f"{source}: 2 events read, 2 accepted, 0 rejected"
    assert len(focus_rows(services.settings)) == 2


async def test_the_sample_uploads_as_a_file_of_no_known_extension(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "events.txt"
    source.write_bytes((DATA / "datahub" / "custom_events.csv").read_bytes())  # told CSV by its content

    done = await _cloudact(monkeypatch, services.caller(ORG, "operator"), "events", "upload", str(source), "--org", ORG)

    assert done.exit_code == 0, done.output
    assert "14 events read, 14 accepted, 0 rejected" in done.stdout
    assert {r["ServiceProviderName"] for r in focus_rows(services.settings)} == {
        "GCP", "Snowflake", "MongoDB Atlas", "Datadog", "OpenAI",
    }  # fmt: skip


async def test_lines_that_are_no_event_are_reported_by_line_number(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(
        "\n".join([json.dumps(event("ok")), "{not json", "[1, 2]", json.dumps({**event("x"), "colour": "blue"})]) + "\n"
    )

    done = await _cloudact(monkeypatch, services.caller(ORG, "operator"), "events", "upload", str(source), "--org", ORG)

    assert done.exit_code == 1, done.output
    lines = done.stdout.splitlines()
    assert lines[0].endswith("4 events read, 1 accepted, 3 rejected")
    assert lines[1].startswith("  row 2: row: not JSON: ")
    assert lines[2] == "  row 3: row: not a JSON object"
    assert lines[3] == "  row 4 (event_id x): colour: not a field of a cost event"


async def test_a_viewer_cannot_upload(services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = _csv(tmp_path / "events.csv", [event("v-1")])

    done = await _cloudact(monkeypatch, services.caller(ORG, "viewer"), "events", "upload", str(source), "--org", ORG)

    assert done.exit_code == 1
    assert "PERMISSION_DENIED" in done.output and "ROLE_TOO_LOW" in done.output


def test_a_csv_column_that_is_no_event_field_refuses_the_file(tmp_path: Path) -> None:
    source = tmp_path / "events.csv"
    source.write_text("event_id,colour\ne-1,blue\n")

    with pytest.raises(Exception, match="colour are not event fields"):
        events_cli.read_rows(source)


async def test_the_demo_pushes_its_generated_events(services: Services) -> None:
    from cloudact_cli import demo

    await demo._push_events(services.caller(demo.ORG, "admin"))

    rows = focus_rows(services.settings, demo.ORG)
    assert len(rows) == 300 and {r["x_source_provider"] for r in rows} == {"datahub"}
