"""One pass over an organisation: start every due pipeline once, through the services' contracts.

The pass reads the org's credentials (credential_svc) and their runs (ingest_svc), decides what is
due (``due.decide``), and starts each due run with its slot in ``RunPipelineRequest.scheduled_slot``.
ingest_svc claims the slot in the run log (one transaction): a pass racing another one, in this
process or any other, gets ALREADY_EXISTS and counts the run as taken, never starts it twice.

A start that fails for a transient reason (UNAVAILABLE, DEADLINE_EXCEEDED: a service restarting, a
run cut off by ingest_svc stopping) is tried again with exponential back-off (tenacity) within the
pass; a run that fails for any other reason is recorded FAILED and retried by later passes, with
the back-off ``due.RetryPolicy`` reads from the run log.

The caller's bearer token (an operator of the org) is sent on every call and never logged.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import grpc
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from cloudact_cli.scheduling.due import Decision, RecordedRun, RetryPolicy, Verdict, decide
from cloudact_providers.registry import PROVIDERS
from cloudact_shared.clients import open_channel
from cloudact_shared.gen.cloudact.credential.v1 import credential_service_pb2 as cred_pb
from cloudact_shared.gen.cloudact.credential.v1.credential_service_pb2_grpc import CredentialServiceStub
from cloudact_shared.gen.cloudact.pipeline.v1 import pipeline_service_pb2 as pipe_pb
from cloudact_shared.gen.cloudact.pipeline.v1.pipeline_service_pb2_grpc import PipelineServiceStub
from cloudact_shared.schedule import schedule_of
from cloudact_shared.settings import CloudactSettings

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_CALL_TIMEOUT = 30.0
_RUNS_PAGE = 200
_MAX_RUN_PAGES = 10
_TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_DOMAIN, _PIPELINE = "cost", "billing"


class Outcome(enum.Enum):
    """What became of a due run in this pass."""

    SUCCEEDED = "succeeded"
    STARTED = "started"
    """Started and left running (``wait=False``)."""
    TAKEN = "taken"
    """Another pass claimed the slot first, or a run of the credential is in progress."""
    FAILED = "failed"


@dataclass(frozen=True)
class StartPolicy:
    """Retries of a transient failure within a pass, and how long a run may take."""

    attempts: int = 3
    first_wait_seconds: float = 1.0
    max_wait_seconds: float = 30.0
    run_timeout_seconds: float = 1800.0
    concurrency: int = 4
    """Due runs of one pass started at once (each credential's run is its own slice in ingest_svc)."""


@dataclass(frozen=True)
class Started:
    """A due run this pass tried to start."""

    credential_id: str
    provider: str
    slot: datetime
    periods: tuple[date, ...]
    outcome: Outcome
    run_id: str = ""
    error: str = ""
    """``CODE: message`` of a failure or of the claim that was refused (never a secret)."""


@dataclass(frozen=True)
class PassReport:
    """What one pass decided and did."""

    org_slug: str
    now: datetime
    decisions: tuple[Decision, ...]
    started: tuple[Started, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return any(s.outcome is Outcome.FAILED for s in self.started)


async def run_due_pass(
    settings: CloudactSettings,
    org_slug: str,
    *,
    token: str,
    now: datetime | None = None,
    wait: bool = True,
    retry: RetryPolicy | None = None,
    start: StartPolicy | None = None,
    on_event: Callable[[str], None] | None = None,
) -> PassReport:
    """Starts every due pipeline of ``org_slug`` once; returns what it decided and did.

    Args:
        token: A bearer token of an operator of ``org_slug`` (sent, never logged).
        now: The pass's clock (UTC); the real time by default.
        wait: Follow each started run to its outcome (otherwise return once each has started; the
            runs go on in ingest_svc either way).
        retry: Back-off of a slot whose scheduled runs failed (read from the run log).
        start: Retries of transient failures within the pass.
        on_event: Called with one line per decision and per outcome.
    """
    now = now or datetime.now(UTC)
    start = start or StartPolicy()
    say = on_event or (lambda _line: None)
    async with (
        open_channel(settings, settings.credential_address, token=token) as credential_channel,
        open_channel(settings, settings.ingest_address, token=token) as ingest_channel,
    ):
        credentials, pipelines = CredentialServiceStub(credential_channel), PipelineServiceStub(ingest_channel)
        runnable = await _transient_retried(start, lambda: _pipeline_ids(pipelines))
        decisions: list[tuple[cred_pb.Credential, Decision]] = []
        for credential in await _transient_retried(start, lambda: _all_credentials(credentials, org_slug)):
            if f"{credential.provider}/{_DOMAIN}/{_PIPELINE}" not in runnable:
                continue
            runs = await _transient_retried(
                start, functools.partial(_recent_runs, pipelines, org_slug, credential.credential_id)
            )
            decision = decide(
                credential.credential_id,
                schedule_of(credential.credential_id, credential.schedule.spec),
                credential.created_at.ToDatetime(tzinfo=UTC),
                runs,
                now,
                window_months=_window_months(credential.provider),
                retry=retry,
            )
            say(f"{credential.credential_id} ({credential.provider}): {decision.verdict.value}; {decision.detail}")
            decisions.append((credential, decision))
        limit = asyncio.Semaphore(start.concurrency)

        async def launch(credential: cred_pb.Credential, decision: Decision) -> Started:
            async with limit:
                started = await _start(pipelines, org_slug, credential, decision, start, wait=wait)
            say(f"{started.credential_id}: {started.outcome.value} {started.run_id} {started.error}".rstrip())
            return started

        due = [(c, d) for c, d in decisions if d.verdict is Verdict.DUE]
        started = await asyncio.gather(*(launch(c, d) for c, d in due))
    return PassReport(org_slug, now, tuple(d for _, d in decisions), tuple(started))


async def _start(
    pipelines: PipelineServiceStub,
    org_slug: str,
    credential: cred_pb.Credential,
    decision: Decision,
    policy: StartPolicy,
    *,
    wait: bool,
) -> Started:
    assert decision.slot is not None  # a DUE decision always names its slot
    request = pipe_pb.RunPipelineRequest(
        org_slug=org_slug,
        provider=credential.provider,
        domain=_DOMAIN,
        pipeline=_PIPELINE,
        credential_id=credential.credential_id,
        date_range=pipe_pb.DateRange(
            start_date=decision.periods[0].isoformat(), end_date=_month_end(decision.periods[-1]).isoformat()
        ),
    )
    request.scheduled_slot.FromDatetime(decision.slot)
    run_id = ""

    async def attempt() -> Outcome:
        nonlocal run_id
        stream = pipelines.RunPipeline(request, timeout=policy.run_timeout_seconds)
        outcome: Outcome | None = None
        # Read to the stream's end (it ends right after the result) rather than cancel it: only a
        # pass that does not wait, or is itself cancelled, walks away from a stream.
        try:
            async for event in stream:
                if event.HasField("result"):
                    outcome = Outcome.SUCCEEDED
                    continue
                run_id = event.progress.run_id or run_id
                if not wait:
                    stream.cancel()  # the run goes on in ingest_svc without its watcher
                    return Outcome.STARTED
        except asyncio.CancelledError:
            stream.cancel()
            raise
        if outcome is None:
            raise RuntimeError("the run's stream ended without a result")
        return outcome

    base = {"credential_id": credential.credential_id, "provider": credential.provider}
    try:
        outcome = await _transient_retried(policy, attempt)
    except grpc.aio.AioRpcError as err:
        text = f"{err.code().name}: {err.details()}"
        if err.code() is grpc.StatusCode.ALREADY_EXISTS:
            return Started(**base, slot=decision.slot, periods=decision.periods, outcome=Outcome.TAKEN, error=text)
        _log.warning("scheduled run of credential %s failed: %s", credential.credential_id, text)
        return Started(
            **base, slot=decision.slot, periods=decision.periods, outcome=Outcome.FAILED, run_id=run_id, error=text
        )
    return Started(**base, slot=decision.slot, periods=decision.periods, outcome=outcome, run_id=run_id)


async def _transient_retried(policy: StartPolicy, action: Callable[[], Awaitable[_T]]) -> _T:
    """``action()``, tried again with exponential back-off while it fails with a transient gRPC error."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(_is_transient),
        wait=wait_exponential(multiplier=policy.first_wait_seconds, max=policy.max_wait_seconds),
        stop=stop_after_attempt(policy.attempts),
        before_sleep=_log_retry,
        reraise=True,
    ):
        with attempt:
            return await action()
    raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    code = error.code().name if isinstance(error, grpc.aio.AioRpcError) else type(error).__name__
    _log.warning("transient %s (attempt %d); retrying", code, state.attempt_number)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in _TRANSIENT


async def _pipeline_ids(pipelines: PipelineServiceStub) -> set[str]:
    response = await pipelines.ListPipelines(pipe_pb.ListPipelinesRequest(), timeout=_CALL_TIMEOUT)
    return {p.pipeline_id for p in response.pipelines}


async def _all_credentials(stub: CredentialServiceStub, org_slug: str) -> list[cred_pb.Credential]:
    found: list[cred_pb.Credential] = []
    page_token = ""
    while True:
        request = cred_pb.ListCredentialsRequest(org_slug=org_slug, page_token=page_token, page_size=100)
        response = await stub.ListCredentials(request, timeout=_CALL_TIMEOUT)
        found.extend(response.credentials)
        if not (page_token := response.next_page_token):
            return found


async def _recent_runs(pipelines: PipelineServiceStub, org_slug: str, credential_id: str) -> list[RecordedRun]:
    """The credential's runs, newest first, back to its latest success (or at most 2,000 runs)."""
    found: list[RecordedRun] = []
    page_token = ""
    for _page in range(_MAX_RUN_PAGES):
        request = pipe_pb.ListRunsRequest(
            org_slug=org_slug, credential_id=credential_id, page_size=_RUNS_PAGE, page_token=page_token
        )
        response = await pipelines.ListRuns(request, timeout=_CALL_TIMEOUT)
        found.extend(RecordedRun.of(run) for run in response.runs)
        page_token = response.next_page_token
        if not page_token or any(run.succeeded for run in found):
            break
    return found


def _window_months(provider: str) -> int:
    spec = PROVIDERS.get(provider)
    return spec.pipeline.revision_window_months if spec is not None else 2


def _month_end(first_day: date) -> date:
    following = date(first_day.year + first_day.month // 12, first_day.month % 12 + 1, 1)
    return following - timedelta(days=1)
