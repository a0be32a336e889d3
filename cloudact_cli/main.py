"""The ``cloudact`` command: serve the four services, and call them through their contracts."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import json
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cloudact_cli.convert_command import convert
from cloudact_cli.events import events_app
from cloudact_cli.keys import keys_app
from cloudact_cli.rpc import call, caller_channel, pairs
from cloudact_cli.warehouse import warehouse_app
from cloudact_http.cli import http_app
from cloudact_shared.errors import CloudactError
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.focus.v1 import focus_service_pb2 as focus_pb
from cloudact_shared.gen.cloudact.focus.v1.focus_service_pb2_grpc import FocusServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.gen.cloudact.query.v1 import query_service_pb2 as query_pb
from cloudact_shared.gen.cloudact.query.v1.query_service_pb2_grpc import QueryServiceStub
from cloudact_shared.settings import CloudactSettings

if TYPE_CHECKING:
    from cloudact_shared.auth import TokenAuthority

app = typer.Typer(help="CloudAct Costs: cloud billing to FOCUS 1.3.", no_args_is_help=True)
credentials_app = typer.Typer(help="Store and manage provider credentials (credential_svc).", no_args_is_help=True)
pipeline_app = typer.Typer(help="Run ingestion pipelines (ingest_svc).", no_args_is_help=True)
query_app = typer.Typer(help="Ask cost questions (query_svc).", no_args_is_help=True)
focus_app = typer.Typer(help="The FOCUS 1.3 table (focus_svc).", no_args_is_help=True)
app.add_typer(credentials_app, name="credentials")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(query_app, name="query")
app.add_typer(focus_app, name="focus")
auth_app = typer.Typer(help="TLS material for the services (run once per deployment).", no_args_is_help=True)
tokens_app = typer.Typer(
    help="Bearer tokens: mint, list, revoke (offline, with the signing key).", no_args_is_help=True
)
app.add_typer(auth_app, name="auth")
app.add_typer(tokens_app, name="tokens")
app.add_typer(events_app, name="events")
app.add_typer(keys_app, name="keys")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(http_app, name="http")

_console = Console(width=max(Console().width, 120))
_TIMEOUT = 60.0
_STAGES = {v: k.removeprefix("STAGE_").lower().replace("_", " ") for k, v in pipe_pb.Stage.items()}

Org = Annotated[str, typer.Option("--org", help="Organisation slug, e.g. acme.")]
_SCHEDULE_HELP = 'When the scheduler runs its pipeline (UTC): daily@HH:MM, a cron line like "30 2 * * 1-5", or off.'


def _settings() -> CloudactSettings:
    return CloudactSettings()


def _print_json(message: object) -> None:
    _console.print_json(json.dumps(MessageToDict(message, preserving_proto_field_name=True)))  # type: ignore[arg-type]


# --- serve -------------------------------------------------------------------------------------


@app.command()
def serve(
    only: Annotated[
        list[str] | None,
        typer.Option(help="Start only these services, 'scheduler' or 'http' (repeatable)."),
    ] = None,
    addresses_file: Annotated[
        Path | None, typer.Option(help="Write {service: [address, ...]} here (JSON) once all serve.")
    ] = None,
) -> None:
    """Starts the four services as four processes, the pipeline scheduler and the HTTPS side (JSON
    gateway and dashboard on CLOUDACT_HTTP_ADDRESS, docs/http-api.md), until Ctrl-C / SIGTERM.

    The scheduler runs the due pipelines of the orgs in CLOUDACT_SCHEDULER_ORGS (docs/scheduling.md).
    `--only http` serves the HTTPS side alone, calling services at their configured addresses.
    """
    from cloudact_cli.scheduling.due import RetryPolicy
    from cloudact_cli.scheduling.scheduler import PipelineScheduler, scheduler_orgs
    from cloudact_cli.supervisor import SERVICES, ServeComponent, supervise

    known = [*SERVICES, PipelineScheduler.name, "http"]
    names = only or known
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {unknown}; known: {known}", param_hint="--only")
    settings = _settings()
    # Every start: issues what is missing or stale (the CA on a first start; the HTTPS certificate in
    # a data dir made before it existed), and never touches certificates issued elsewhere.
    _auth_init(settings, force=False)
    components: list[ServeComponent] = []
    if PipelineScheduler.name in names:
        if orgs := scheduler_orgs(settings):
            retry = RetryPolicy(first_delay=timedelta(seconds=settings.scheduler_retry_seconds))
            components.append(
                PipelineScheduler(
                    orgs, interval_seconds=settings.scheduler_interval_seconds, retry=retry, log=_console.print
                )
            )
        else:
            _console.print("scheduler: no organisations in CLOUDACT_SCHEDULER_ORGS, so no scheduled runs")
    if "http" in names:
        from cloudact_http.dashboard import dashboard_routes
        from cloudact_http.server import HttpServer

        # The JSON gateway of the annotated RPCs and the dashboard, on one HTTPS address.
        components.append(HttpServer(extra_routes=dashboard_routes, log=_console.print))
    services = [name for name in names if name in SERVICES]
    log = _console.print
    raise typer.Exit(
        asyncio.run(supervise(settings, services, log=log, addresses_file=addresses_file, components=components))
    )


# --- auth and tokens ---------------------------------------------------------------------------


def _auth_init(settings: CloudactSettings, *, force: bool) -> None:
    from cloudact_shared.auth import TlsSetupError, ensure_local_pki

    try:
        written = ensure_local_pki(settings, force=force)
    except TlsSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    for path in written:
        _console.print(f"wrote {path}")
    _console.print(f"TLS: CA {settings.ca_path}; certificates in {settings.tls_path}")


@auth_app.command("init")
def auth_init(
    force: Annotated[bool, typer.Option(help="Reissue the CA and every certificate.")] = False,
) -> None:
    """Creates a local CA and a certificate per service under $CLOUDACT_DATA_DIR/secrets/tls/.

    Certificates are valid for each service's configured addresses (127.0.0.1 and localhost by
    default), so `grpcurl -cacert <CA>` works as is. Missing, expiring or stale ones are reissued.
    """
    _auth_init(_settings(), force=force)


def _authority() -> TokenAuthority:
    from cloudact_shared.auth import TokenAuthority

    return TokenAuthority(_settings().tokens_path)


@tokens_app.command("create")
def tokens_create(
    org: Org,
    role: Annotated[str, typer.Option(help="viewer | operator | admin.")],
    ttl: Annotated[str, typer.Option(help="Lifetime, e.g. 30d, 12h (at most 365d).")] = "30d",
    subject: Annotated[str, typer.Option(help="Who or what the token is for.")] = "",
) -> None:
    """Mints a signed token for one org and role; prints only the token on stdout.

    Use it as `export CLOUDACT_TOKEN=$(cloudact tokens create --org acme --role viewer)`.
    """
    from cloudact_shared.auth import Role, parse_ttl

    try:
        token, info = _authority().mint(org, Role.parse(role), ttl=parse_ttl(ttl), subject=subject)
    except CloudactError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(
        f"token {info.token_id}: {info.role.label} of {info.org_slug} until {info.expires_at:%Y-%m-%d %H:%M} UTC",
        file=sys.stderr,
    )
    print(token)


@tokens_app.command("list")
def tokens_list(org: Annotated[str | None, typer.Option("--org", help="Only this org's tokens.")] = None) -> None:
    """Lists minted tokens (never the tokens themselves) and whether they are revoked."""
    table = Table("token_id", "org", "role", "subject", "issued", "expires", "revoked")
    for info in _authority().list_tokens(org):
        revoked = f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else ""
        table.add_row(info.token_id, info.org_slug, info.role.label, info.subject, f"{info.issued_at:%Y-%m-%d %H:%M}",
                      f"{info.expires_at:%Y-%m-%d %H:%M}", revoked)  # fmt: skip
    _console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (from `tokens list`).")]) -> None:
    """Revokes a token: every service refuses it from its next call on."""
    try:
        info = _authority().revoke(token_id)
    except CloudactError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(1) from None
    _console.print(f"revoked {info.token_id} ({info.role.label} of {info.org_slug})")


# --- credentials -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _credentials() -> AsyncIterator[CredentialServiceStub]:
    """A stub of credential_svc over a channel closed on exit."""
    settings = _settings()
    async with caller_channel(settings, settings.credential_address) as channel:
        yield CredentialServiceStub(channel)


@credentials_app.command("create")
def credentials_create(
    org: Org,
    provider: Annotated[str, typer.Option(help="Provider slug, e.g. aws.")],
    name: Annotated[str, typer.Option(help="Display name, unique per org and provider.")],
    secret_file: Annotated[
        Path | None, typer.Option(help="JSON object of secret fields (keeps secrets out of shell history).")
    ] = None,
    secret: Annotated[list[str] | None, typer.Option(help="Secret field KEY=VALUE (repeatable).")] = None,
    config: Annotated[list[str] | None, typer.Option(help="Non-secret setting KEY=VALUE (repeatable).")] = None,
    schedule: Annotated[str, typer.Option(help=_SCHEDULE_HELP + " Default: daily at a time derived from its id.")] = "",
) -> None:
    """Stores a credential (encrypted) and prints its metadata."""
    _check_schedule(schedule)
    fields = pairs(secret or [], "--secret")
    if secret_file is not None:
        fields |= {str(k): str(v) for k, v in json.loads(secret_file.read_text()).items()}

    async def run() -> None:
        async with _credentials() as stub:
            request = cred_pb.CreateCredentialRequest(
                org_slug=org,
                provider=provider,
                display_name=name,
                secret=fields,
                config=pairs(config or [], "--config"),
                schedule=schedule,
            )
            response = await call(lambda: stub.CreateCredential(request, timeout=_TIMEOUT))
            _print_json(response.credential)

    asyncio.run(run())


async def list_all_credentials(stub: CredentialServiceStub, org: str, provider: str = "") -> list[cred_pb.Credential]:
    """Every credential of ``org`` (optionally one provider's), following the pages."""
    found: list[cred_pb.Credential] = []
    page_token = ""
    while True:
        request = cred_pb.ListCredentialsRequest(org_slug=org, provider=provider, page_token=page_token)
        response = await call(functools.partial(stub.ListCredentials, request, timeout=_TIMEOUT))
        found.extend(response.credentials)
        if not (page_token := response.next_page_token):
            return found


@credentials_app.command("list")
def credentials_list(org: Org, provider: Annotated[str, typer.Option(help="Only this provider.")] = "") -> None:
    """Lists an organisation's credentials (metadata only)."""

    async def run() -> None:
        async with _credentials() as stub:
            table = Table("credential_id", "provider", "name", "key version", "created", "schedule (UTC)")
            for c in await list_all_credentials(stub, org, provider):
                schedule = c.schedule.spec + (
                    " (default)" if c.schedule.origin == cred_pb.SCHEDULE_ORIGIN_DEFAULT else ""
                )
                table.add_row(c.credential_id, c.provider, c.display_name, c.key_version, c.created_at.ToJsonString(),
                              schedule)  # fmt: skip
            _console.print(table)

    asyncio.run(run())


@credentials_app.command("get")
def credentials_get(org: Org, credential_id: Annotated[str, typer.Option("--id")]) -> None:
    """Shows one credential's metadata."""

    async def run() -> None:
        async with _credentials() as stub:
            request = cred_pb.GetCredentialRequest(org_slug=org, credential_id=credential_id)
            response = await call(lambda: stub.GetCredential(request, timeout=_TIMEOUT))
            _print_json(response.credential)

    asyncio.run(run())


@credentials_app.command("schedule")
def credentials_schedule(
    org: Org,
    credential_id: Annotated[str, typer.Option("--id")],
    schedule: Annotated[str, typer.Option(help=_SCHEDULE_HELP + " 'default' restores the default.")],
) -> None:
    """Sets when the scheduler runs a credential's pipeline (cloudact serve, cloudact pipeline run-due)."""
    spec = "" if schedule.strip().lower() == "default" else schedule
    _check_schedule(spec)

    async def run() -> None:
        async with _credentials() as stub:
            request = cred_pb.UpdateCredentialScheduleRequest(org_slug=org, credential_id=credential_id, schedule=spec)
            response = await call(lambda: stub.UpdateCredentialSchedule(request, timeout=_TIMEOUT))
            _print_json(response.credential)

    asyncio.run(run())


def _check_schedule(spec: str) -> None:
    """Refuses a schedule spec that does not parse before any call (credential_svc checks it too)."""
    if not spec:
        return
    # Imported here: APScheduler's calendar arithmetic is only for the commands that need it.
    from cloudact_shared.schedule import parse_schedule

    try:
        parse_schedule(spec)
    except CloudactError as exc:
        raise typer.BadParameter(exc.message, param_hint="--schedule") from None


@credentials_app.command("rotate")
def credentials_rotate(
    org: Org,
    credential_id: Annotated[str, typer.Option("--id")],
    secret_file: Annotated[Path | None, typer.Option(help="New secret as a JSON object (optional).")] = None,
) -> None:
    """Re-encrypts a credential under a fresh data key and the newest key version (optionally a new secret)."""
    new_secret = {str(k): str(v) for k, v in json.loads(secret_file.read_text()).items()} if secret_file else {}

    async def run() -> None:
        async with _credentials() as stub:
            request = cred_pb.RotateCredentialRequest(org_slug=org, credential_id=credential_id, new_secret=new_secret)
            response = await call(lambda: stub.RotateCredential(request, timeout=_TIMEOUT))
            _print_json(response.credential)

    asyncio.run(run())


@credentials_app.command("delete")
def credentials_delete(org: Org, credential_id: Annotated[str, typer.Option("--id")]) -> None:
    """Deletes a credential."""

    async def run() -> None:
        async with _credentials() as stub:
            request = cred_pb.DeleteCredentialRequest(org_slug=org, credential_id=credential_id)
            await call(lambda: stub.DeleteCredential(request, timeout=_TIMEOUT))
            _console.print(f"deleted {credential_id}")

    asyncio.run(run())


# --- pipeline ----------------------------------------------------------------------------------


def pipeline_request(
    org: str, provider: str, credential_id: str, period: str | None, start: str | None, end: str | None
) -> pipe_pb.RunPipelineRequest:
    """Builds a RunPipelineRequest from CLI options (period YYYY-MM, or a start/end date range)."""
    request = pipe_pb.RunPipelineRequest(
        org_slug=org, provider=provider, domain="cost", pipeline="billing", credential_id=credential_id
    )
    if period:
        year, _, month = period.partition("-")
        if not (year.isdigit() and month.isdigit()):
            raise typer.BadParameter(f"expected YYYY-MM, got {period!r}", param_hint="--period")
        request.billing_period.CopyFrom(pipe_pb.BillingPeriod(year=int(year), month=int(month)))
    elif start or end:
        request.date_range.CopyFrom(pipe_pb.DateRange(start_date=start or "", end_date=end or ""))
    return request


async def run_pipeline(
    settings: CloudactSettings, request: pipe_pb.RunPipelineRequest, timeout: float
) -> pipe_pb.RunResult:
    """Runs a pipeline, printing each progress event as it streams; returns the result."""
    result = pipe_pb.RunResult()

    async with caller_channel(settings, settings.ingest_address) as channel:

        async def stream() -> None:
            async for event in PipelineServiceStub(channel).RunPipeline(request, timeout=timeout):
                if event.HasField("progress"):
                    p = event.progress
                    _console.print(f"[cyan]{_STAGES.get(p.stage, '?'):>22}[/cyan]  {p.message}")
                else:
                    result.CopyFrom(event.result)

        await call(stream)
    return result


@pipeline_app.command("run")
def pipeline_run(
    org: Org,
    provider: Annotated[str, typer.Option(help="Provider slug, e.g. aws.")],
    credential_id: Annotated[str, typer.Option("--credential-id", help="Credential to read the source with.")],
    period: Annotated[str | None, typer.Option(help="Billing month YYYY-MM.")] = None,
    start: Annotated[str | None, typer.Option(help="Start date YYYY-MM-DD (with --end).")] = None,
    end: Annotated[str | None, typer.Option(help="End date YYYY-MM-DD (inclusive).")] = None,
    timeout: Annotated[float, typer.Option(help="Deadline in seconds.")] = 1800.0,
) -> None:
    """Runs {provider}/cost/billing and shows its progress as it streams."""
    request = pipeline_request(org, provider, credential_id, period, start, end)
    result = asyncio.run(run_pipeline(_settings(), request, timeout))
    _print_json(result)


@pipeline_app.command("list")
def pipeline_list() -> None:
    """Lists the pipelines ingest_svc can run."""

    async def run() -> None:
        settings = _settings()
        async with caller_channel(settings, settings.ingest_address) as channel:
            request = pipe_pb.ListPipelinesRequest()
            stub = PipelineServiceStub(channel)
            response = await call(functools.partial(stub.ListPipelines, request, timeout=_TIMEOUT))
        table = Table("pipeline", "raw table", "description")
        for p in response.pipelines:
            table.add_row(p.pipeline_id, p.raw_table, p.description)
        _console.print(table)

    asyncio.run(run())


@pipeline_app.command("runs")
def pipeline_runs(
    org: Org,
    credential_id: Annotated[str, typer.Option("--credential-id", help="Only this credential's runs.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many runs, newest first.")] = 50,
) -> None:
    """Lists an organisation's pipeline runs, newest first, with their outcome (from the run log)."""

    async def run() -> None:
        settings = _settings()
        async with caller_channel(settings, settings.ingest_address) as channel:
            request = pipe_pb.ListRunsRequest(org_slug=org, credential_id=credential_id, page_size=limit)
            response = await call(functools.partial(PipelineServiceStub(channel).ListRuns, request, timeout=_TIMEOUT))
        table = Table("run_id", "pipeline", "periods", "status", "stage", "rows", "started", "error")
        for r in response.runs:
            status = pipe_pb.RunStatus.Name(r.status).removeprefix("RUN_STATUS_").lower()
            if r.repaired or r.repair_pending:
                status += " (repaired)" if r.repaired else " (repair pending)"
            table.add_row(r.run_id, r.pipeline_id, ",".join(r.billing_periods), status, _STAGES.get(r.last_stage, ""),
                          str(r.raw_rows_written), r.started_at.ToJsonString(), r.error.message)  # fmt: skip
        _console.print(table)

    asyncio.run(run())


@pipeline_app.command("run-due")
def pipeline_run_due(
    org: Org,
    wait: Annotated[bool, typer.Option(help="Follow each started run to its outcome.")] = True,
    as_of: Annotated[
        datetime | None, typer.Option(hidden=True, help="Decide as if it were this time (UTC); for tests.")
    ] = None,
) -> None:
    """Starts every due scheduled pipeline of the org once (one pass: for cron or Cloud Scheduler).

    Safe to run at any time and any number of times at once: a slot's run starts once. Needs an
    operator token in CLOUDACT_TOKEN. Exit code 1 when a started run failed.
    """
    from cloudact_cli.scheduling.run_due import run_due_pass

    settings = _settings()
    if settings.token is None:
        caller_channel(settings, settings.ingest_address)  # says what to set, and exits
        return
    token = settings.token.get_secret_value()
    now = None if as_of is None else as_of.replace(tzinfo=as_of.tzinfo or UTC)
    report = asyncio.run(call(lambda: run_due_pass(settings, org, token=token, now=now, wait=wait)))
    table = Table("credential_id", "decision", "slot", "months", "outcome", "run_id", "detail")
    started = {s.credential_id: s for s in report.started}
    for decision in report.decisions:
        run = started.get(decision.credential_id)
        months = f"{decision.periods[0]:%Y-%m}..{decision.periods[-1]:%Y-%m}" if decision.periods else ""
        slot = f"{decision.slot:%Y-%m-%d %H:%M}" if decision.slot else ""
        table.add_row(decision.credential_id, decision.verdict.value, slot, months,
                      run.outcome.value if run else "", run.run_id if run else "",
                      (run.error if run and run.error else decision.detail))  # fmt: skip
    _console.print(table)
    if report.failed:
        raise typer.Exit(1)


@pipeline_app.command("status")
def pipeline_status(org: Org, run_id: Annotated[str, typer.Option("--run-id", help="The run to show.")]) -> None:
    """Shows one run's outcome, even after its caller was cut off (GetRun)."""

    async def run() -> None:
        settings = _settings()
        async with caller_channel(settings, settings.ingest_address) as channel:
            request = pipe_pb.GetRunRequest(org_slug=org, run_id=run_id)
            response = await call(functools.partial(PipelineServiceStub(channel).GetRun, request, timeout=_TIMEOUT))
        _print_json(response.run)

    asyncio.run(run())


# --- query -------------------------------------------------------------------------------------

_METRICS = {
    "billed": query_pb.COST_METRIC_BILLED_COST,
    "effective": query_pb.COST_METRIC_EFFECTIVE_COST,
    "list": query_pb.COST_METRIC_LIST_COST,
    "contracted": query_pb.COST_METRIC_CONTRACTED_COST,
}
_GRAINS = {
    "day": query_pb.TIME_GRAIN_DAY,
    "month": query_pb.TIME_GRAIN_MONTH,
    "total": query_pb.TIME_GRAIN_TOTAL,
}


async def query_costs(settings: CloudactSettings, request: query_pb.QueryCostsRequest) -> query_pb.QueryCostsResponse:
    """Calls QueryService.QueryCosts."""
    async with caller_channel(settings, settings.query_address) as channel:
        return await call(functools.partial(QueryServiceStub(channel).QueryCosts, request, timeout=_TIMEOUT))


def print_costs(response: query_pb.QueryCostsResponse, group_by: list[str]) -> None:
    """Prints a cost answer as a table."""
    metrics = sorted({m for row in response.rows for m in row.amounts})
    dims = [*group_by, *(["BillingCurrency"] if "BillingCurrency" not in group_by else [])]
    table = Table(
        "period",
        *dims,
        *metrics,
        title=f"FOCUS table v{response.table_version}"
        f"{' (cached)' if response.cache_hit else ''}, {response.rows_scanned} rows scanned",
    )
    for row in response.rows:
        table.add_row(
            row.period_start,
            *(row.dimensions.get(d, "") for d in dims),
            *(_display_amount(row.amounts.get(m, "")) for m in metrics),
        )
    _console.print(table)


def _display_amount(text: str) -> str:
    """Rounds an exact decimal string to 4 places for the table (``--json`` keeps it exact)."""
    if not text:
        return ""
    return f"{Decimal(text).quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN):,}"


@query_app.command("costs")
def query_costs_command(
    org: Org,
    start: Annotated[str, typer.Option(help="First day YYYY-MM-DD (ChargePeriodStart).")],
    end: Annotated[str, typer.Option(help="Last day YYYY-MM-DD, inclusive.")],
    metric: Annotated[
        list[str] | None, typer.Option(help="billed | effective | list | contracted (repeatable).")
    ] = None,
    group_by: Annotated[list[str] | None, typer.Option(help="FOCUS column or tag:KEY (repeatable).")] = None,
    grain: Annotated[str, typer.Option(help="day | month | total.")] = "month",
    filter_: Annotated[list[str] | None, typer.Option("--filter", help="DIMENSION=VALUE (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw response as JSON.")] = False,
) -> None:
    """Sums costs from the FOCUS table, grouped and filtered."""
    metrics = metric or ["billed", "effective"]
    if bad := [m for m in metrics if m not in _METRICS]:
        raise typer.BadParameter(f"unknown metric(s) {bad}; use {list(_METRICS)}", param_hint="--metric")
    if grain not in _GRAINS:
        raise typer.BadParameter(f"unknown grain {grain!r}; use {list(_GRAINS)}", param_hint="--grain")
    filters: dict[str, list[str]] = {}
    for dim, value in pairs(filter_ or [], "--filter").items():
        filters.setdefault(dim, []).append(value)
    request = query_pb.QueryCostsRequest(
        org_slug=org,
        start_date=start,
        end_date=end,
        metrics=[_METRICS[m] for m in metrics],
        group_by=group_by or [],
        grain=_GRAINS[grain],
        filters=[query_pb.DimensionFilter(dimension=d, values=v) for d, v in filters.items()],
    )
    response = asyncio.run(query_costs(_settings(), request))
    if as_json:
        _print_json(response)
    else:
        print_costs(response, group_by or [])


# --- sql ---------------------------------------------------------------------------------------

_SQL_FORMATS = ("table", "csv", "json")


async def execute_sql(
    settings: CloudactSettings,
    request: query_pb.ExecuteSqlRequest,
    on_response: Callable[[query_pb.ExecuteSqlResponse], None],
    *,
    timeout: float = _TIMEOUT,
) -> None:
    """Calls QueryService.ExecuteSql, handing each streamed response to ``on_response`` as it arrives."""
    async with caller_channel(settings, settings.query_address) as channel:

        async def stream() -> None:
            async for response in QueryServiceStub(channel).ExecuteSql(request, timeout=timeout):
                on_response(response)

        await call(stream)


class SqlPrinter:
    """Prints an ExecuteSql answer: CSV rows as they arrive, a table or JSON once it is complete."""

    def __init__(self, output_format: str) -> None:
        self._format = output_format
        self._columns: list[query_pb.SqlColumn] = []
        self._rows: list[list[str | None]] = []
        self._version = 0
        self._csv = csv.writer(sys.stdout, lineterminator="\n")
        self.summary = query_pb.SqlResultSummary()

    def __call__(self, response: query_pb.ExecuteSqlResponse) -> None:
        kind = response.WhichOneof("result")
        if kind == "header":
            self._columns, self._version = list(response.header.columns), response.header.table_version
            if self._format == "csv":
                self._csv.writerow(c.name for c in self._columns)
        elif kind == "batch":
            for row in response.batch.rows:
                nulls = set(row.null_cells)
                if self._format == "csv":  # CSV has no NULL: it is an empty field
                    self._csv.writerow(row.cells)
                else:
                    self._rows.append([None if i in nulls else cell for i, cell in enumerate(row.cells)])
        elif kind == "summary":
            self.summary = response.summary

    def finish(self) -> None:
        """Prints what was kept back, then says on stderr when the row limit cut the answer."""
        if self._format == "json":
            names = [c.name for c in self._columns]
            print(json.dumps([dict(zip(names, row, strict=True)) for row in self._rows], ensure_ascii=False, indent=2))
        elif self._format == "table":
            title = f"FOCUS table v{self._version}, {self.summary.row_count} rows"
            table = Table(*(f"{c.name}\n{c.type}" for c in self._columns), title=title)
            for row in self._rows:
                table.add_row(*(Text("NULL", style="dim") if cell is None else Text(cell) for cell in row))
            _console.print(table)
        sys.stdout.flush()
        if self.summary.truncated:
            print(f"note: {self.summary.truncation_reason}", file=sys.stderr)


@app.command("sql")
def sql_command(
    org: Org,
    query: Annotated[
        str,
        typer.Argument(
            help="One read-only query (DuckDB SQL) over cost_data_standard_1_3 and the seed views "
            "aws_dci, azure_dci, gcp_dci, databricks_dci, datadog_dci, mongodb_dci, snowflake_dci, "
            "datahub_dci, genai_dci; '-' reads it from stdin."
        ),
    ],
    output_format: Annotated[str, typer.Option("--format", help="table | csv | json.")] = "table",
    max_rows: Annotated[int, typer.Option(help="At most this many rows (0: the server's limit).")] = 0,
    timeout: Annotated[float, typer.Option(help="Deadline in seconds.")] = _TIMEOUT,
) -> None:
    """Runs one read-only SQL query over the org's FOCUS table and seed views (query_svc ExecuteSql)."""
    if output_format not in _SQL_FORMATS:
        raise typer.BadParameter(f"unknown format {output_format!r}; use {list(_SQL_FORMATS)}", param_hint="--format")
    text = sys.stdin.read() if query == "-" else query
    printer = SqlPrinter(output_format)
    request = query_pb.ExecuteSqlRequest(org_slug=org, sql=text, max_rows=max_rows)
    asyncio.run(execute_sql(_settings(), request, printer, timeout=timeout))
    printer.finish()


# --- focus -------------------------------------------------------------------------------------


async def export_focus(settings: CloudactSettings, request: focus_pb.ExportFocusRequest, out: Path) -> int:
    """Streams the FOCUS table from focus_svc into a Parquet or CSV file; returns rows written."""
    chunks: list[bytes] = []
    async with caller_channel(settings, settings.focus_address) as channel:

        async def stream() -> None:
            async for response in FocusServiceStub(channel).ExportFocus(request, timeout=1800.0):
                chunks.append(response.arrow_ipc_chunk)

        await call(stream)
    table = pa.ipc.open_stream(pa.py_buffer(b"".join(chunks))).read_all()
    if out.suffix == ".csv":
        pacsv.write_csv(table, out)
    else:
        pq.write_table(table, out, compression="zstd")
    return int(table.num_rows)


@focus_app.command("export")
def focus_export(
    org: Org,
    out: Annotated[Path, typer.Option(help="Output file: .parquet or .csv.")],
    start: Annotated[str, typer.Option(help="Optional first day YYYY-MM-DD.")] = "",
    end: Annotated[str, typer.Option(help="Optional last day YYYY-MM-DD.")] = "",
) -> None:
    """Exports the organisation's FOCUS 1.3 table to a file."""
    if out.suffix not in (".parquet", ".csv"):
        raise typer.BadParameter("the output must end in .parquet or .csv", param_hint="--out")
    request = focus_pb.ExportFocusRequest(org_slug=org, start_date=start, end_date=end)
    rows = asyncio.run(export_focus(_settings(), request, out))
    _console.print(f"wrote {rows} FOCUS rows to {out}")


# --- convert (in-process, no services; its own module so ``cloudact convert`` starts fast) -----

app.command()(convert)


if __name__ == "__main__":
    app()
