"""`make demo` on both warehouses gives the same FOCUS table (issue 12's "done when").

The demo runs twice as a user runs it (``python -m cloudact_cli.demo``, the services as child
processes): on the embedded default, and with ``CLOUDACT_WAREHOUSE=bigquery`` (the warehouse in
bqemulator, credentials wrapped through the Cloud KMS client against the loopback KMS). Each run writes
the org's FOCUS table with ``CLOUDACT_DEMO_EXPORT``; the two must hold, for every provider both ran,
the same row count and the same BilledCost and EffectiveCost sums, to the last decimal.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudact_cli.bigquery_emulator import bqemulator_available
from cloudact_cli.emulators import azurite_available, free_port
from cloudact_providers.registry import known_providers, registration
from focus_svc.bigquery import providers_without_bigquery_form

REPO = Path(__file__).resolve().parents[2]
_ADDRESSES = (
    "CREDENTIAL_ADDRESS",
    "INGEST_ADDRESS",
    "FOCUS_ADDRESS",
    "QUERY_ADDRESS",
    "CREDENTIAL_INTERNAL_ADDRESS",
    "FOCUS_INTERNAL_ADDRESS",
)


def _demo(tmp_path: Path, name: str, **extra: str) -> tuple[Path, str]:
    """Runs the demo in its own data dir on free ports; returns its export and its output."""
    export = tmp_path / f"{name}.parquet"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDACT_")}
    env.update({f"CLOUDACT_{a}": "127.0.0.1:0" for a in _ADDRESSES})
    env.update(CLOUDACT_DATA_DIR=str(tmp_path / name / "data"), CLOUDACT_DEMO_EXPORT=str(export), **extra)
    done = subprocess.run(
        [sys.executable, "-m", "cloudact_cli.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"the {name} demo failed:\n{output[-6000:]}"
    return export, output


def _per_provider(table: pa.Table) -> dict[str, tuple[int, Decimal, Decimal]]:
    """provider -> (rows, sum of BilledCost, sum of EffectiveCost), summed exactly in Python decimals."""
    totals: dict[str, tuple[int, Decimal, Decimal]] = {}
    columns = (table.column(c).to_pylist() for c in ("x_source_provider", "BilledCost", "EffectiveCost"))
    for provider, billed, effective in zip(*columns, strict=True):
        rows, billed_sum, effective_sum = totals.get(provider, (0, Decimal(0), Decimal(0)))
        totals[provider] = (rows + 1, billed_sum + (billed or 0), effective_sum + (effective or 0))
    return totals


@dataclass(frozen=True)
class Demo:
    export: Path
    output: str
    data_dir: Path


@pytest.fixture(scope="module")
def embedded_demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """`make demo` on the embedded default, once for the tests below."""
    assert azurite_available(), "node or Azurite missing: run `make install`"
    root = tmp_path_factory.mktemp("demo")
    export, output = _demo(root, "embedded")
    return Demo(export, output, root / "embedded" / "data")


@pytest.mark.timeout(3600)
def test_both_warehouses_give_the_same_focus_rows(embedded_demo: Demo, tmp_path: Path) -> None:
    assert bqemulator_available(), "bqemulator missing: run `make install`"
    embedded, embedded_output = embedded_demo.export, embedded_demo.output
    bigquery, output = _demo(tmp_path, "bigquery", CLOUDACT_WAREHOUSE="bigquery")
    assert "warehouse: BigQuery" in output and "credential keys: cloudkms" in output

    on_embedded = _per_provider(pq.read_table(embedded))
    on_bigquery = _per_provider(pq.read_table(bigquery))
    assert set(on_embedded) == set(known_providers()), "the demo runs every registered provider"
    # A mapping with no BigQuery form yet (sql/procedures/cloud/bigquery/README.md) is skipped there,
    # and the demo says so; every other provider runs on both.
    unconvertible = providers_without_bigquery_form()
    assert all(
        f"{registration(slug).name}: its FOCUS mapping has no BigQuery form yet" in output for slug in unconvertible
    )
    assert set(on_bigquery) == set(known_providers()) - set(unconvertible)
    for provider, (rows, billed, effective) in on_bigquery.items():
        expected_rows, expected_billed, expected_effective = on_embedded[provider]
        assert rows == expected_rows, provider
        # To the last decimal: no exact amount is ever CAST on the BigQuery side (bqemulator's CAST to
        # BIGNUMERIC keeps 5 places; see sql/procedures/cloud/bigquery/README.md).
        assert (billed, effective) == (expected_billed, expected_effective), provider
    if not unconvertible:
        # The same cost summary, printed from query_svc (its title names the table version and the
        # rows scanned, which differ: a BigQuery version is a timestamp, and no rollup there).
        assert _cost_summary(output) == _cost_summary(embedded_output)


def _cost_summary(output: str) -> list[str]:
    """The lines of the demo's cost table, without its title."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "BilledCost and EffectiveCost by month" in line)
    end = next(i for i, line in enumerate(lines) if i > start and "CLOUDACT_DEMO_EXPORT: wrote" in line)
    table = [line for line in lines[start + 1 : end] if "FOCUS table v" not in line and "rows scanned" not in line]
    assert len(table) > 10, table
    return table


# ---- After `make demo`, `cloudact serve` serves the dashboard (issue 13's "done when") ----------------
WHOLE_DEMO = ("2023-01-01", "2026-12-31")


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cloudact_cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(1800)
def test_after_the_demo_serve_shows_its_totals_in_the_dashboard(embedded_demo: Demo, tmp_path: Path) -> None:
    """`cloudact serve` over the demo's data; headless Chromium logs in with a viewer token and sees,
    per provider and currency, the totals `cloudact query costs` gives, to the cent."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from cloudact_shared.auth import TlsFiles
    from cloudact_shared.settings import CloudactSettings
    from tests.dashboard.conftest import spki_hash
    from tests.dashboard.test_dashboard import cents, totals_on_page

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDACT_")}
    env.update({f"CLOUDACT_{a}": "127.0.0.1:0" for a in _ADDRESSES})
    env.update(CLOUDACT_DATA_DIR=str(embedded_demo.data_dir), CLOUDACT_HTTP_ADDRESS=f"127.0.0.1:{port}")
    addresses = tmp_path / "addresses.json"
    serve = subprocess.Popen(
        [sys.executable, "-m", "cloudact_cli.main", "serve", "--addresses-file", str(addresses)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    settings = CloudactSettings(data_dir=embedded_demo.data_dir)
    context = ssl.create_default_context(cafile=str(settings.ca_path))
    base = f"https://127.0.0.1:{port}"
    driver = None
    try:
        deadline = time.monotonic() + 120
        while True:
            assert serve.poll() is None, "cloudact serve exited early"
            try:
                if addresses.exists() and httpx.get(f"{base}/healthz", verify=context, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "cloudact serve did not answer within 120 s"
            time.sleep(0.5)
        bound = json.loads(addresses.read_text())
        token = _cli(env, "tokens", "create", "--org", "acme", "--role", "viewer").strip()
        cli_env = {**env, "CLOUDACT_TOKEN": token, "CLOUDACT_QUERY_ADDRESS": bound["query_svc"][0]}
        answer = json.loads(
            _cli(cli_env, "query", "costs", "--org", "acme", "--start", WHOLE_DEMO[0], "--end", WHOLE_DEMO[1],
                 "--group-by", "x_source_provider", "--grain", "total", "--metric", "billed", "--metric", "effective",
                 "--json")
        )  # fmt: skip
        expected: dict[tuple[str, str], list[str]] = {}
        per_currency: dict[str, list[Decimal]] = {}
        for row in answer["rows"]:
            amounts = [Decimal(row["amounts"]["BilledCost"]), Decimal(row["amounts"]["EffectiveCost"])]
            currency = row["dimensions"]["BillingCurrency"]
            expected[(row["dimensions"]["x_source_provider"], currency)] = [cents(str(a)) for a in amounts]
            total = per_currency.setdefault(currency, [Decimal(0), Decimal(0)])
            per_currency[currency] = [total[0] + amounts[0], total[1] + amounts[1]]
        assert len({provider for provider, _ in expected}) == len(known_providers())
        # and the dashboard's own line per currency (currencies are never added together)
        expected.update({("All providers", c): [cents(str(a)) for a in sums] for c, sums in per_currency.items()})

        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        spki = spki_hash(TlsFiles.from_settings(settings).cert("http"))  # trust exactly this certificate
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         f"--ignore-certificate-errors-spki-list={spki}",
                         f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
            options.add_argument(argument)
        options.set_capability("acceptInsecureCerts", False)
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
        driver.get(f"{base}/login")
        driver.find_element(By.NAME, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        # The login lands on the default period; then the whole demo's period is asked for.
        WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.ID, "totals")))
        driver.get(f"{base}/dashboard?start={WHOLE_DEMO[0]}&end={WHOLE_DEMO[1]}")
        WebDriverWait(driver, 60).until(
            expected_conditions.text_to_be_present_in_element((By.ID, "period"), f"{WHOLE_DEMO[0]} – {WHOLE_DEMO[1]}")
        )
        assert totals_on_page(driver) == expected
    finally:
        if driver is not None:
            driver.quit()
        serve.send_signal(signal.SIGTERM)
        try:
            out, _ = serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            out, _ = serve.communicate()
    assert serve.returncode == 0, out[-4000:]
    assert token not in out
