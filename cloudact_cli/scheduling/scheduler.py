"""The scheduler of ``cloudact serve``: a run-due pass per organisation, every interval, with APScheduler.

Each organisation in ``settings.scheduler_orgs`` gets one job: an ``IntervalTrigger`` with jitter
(so replicas and organisations do not call at the same instant), ``max_instances=1`` (a pass never
overlaps the previous one of its org: runs of a credential never overlap in this process) and
``coalesce=True`` (passes missed while one ran, or while the loop was busy, collapse into one). The
first pass runs at start-up: slots missed while nothing was serving are caught up at once.

What is due, and the claim that keeps two schedulers (or a scheduler and a cron job) from starting a
run twice, live in the run log (``run_due``), so this process keeps no state that matters.

``cloudact serve`` runs on the deployment's side: it holds the token signing key and mints itself a
short-lived operator token per org (subject ``cloudact serve scheduler``), kept in memory, never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import SecretStr

from cloudact_cli.scheduling.due import RetryPolicy
from cloudact_cli.scheduling.run_due import PassReport, StartPolicy, run_due_pass
from cloudact_shared.settings import CloudactSettings

if TYPE_CHECKING:
    from cloudact_shared.auth import TokenInfo

_log = logging.getLogger(__name__)
TOKEN_TTL = timedelta(hours=12)
_RENEW_BEFORE = timedelta(hours=1)
SUBJECT = "cloudact serve scheduler"


def scheduler_orgs(settings: CloudactSettings) -> list[str]:
    """The organisations ``settings.scheduler_orgs`` names, in order, without repeats."""
    names = (name.strip() for name in settings.scheduler_orgs.split(","))
    return list(dict.fromkeys(name for name in names if name))


@dataclass
class _Token:
    value: SecretStr
    expires_at: datetime


class PipelineScheduler:
    """Runs due pipelines of some organisations until stopped; a ``cloudact serve`` component.

    Args:
        orgs: The organisations to schedule (each validated when its token is minted).
        interval_seconds: Time between two passes of an org (jittered by up to a quarter of it).
        retry: Back-off of a slot whose scheduled runs failed (across passes).
        start: Retries of transient failures within a pass, and each run's deadline.
        clock: The passes' now (tests inject one; APScheduler's own timing stays real).
        log: Where a line per pass outcome goes.
    """

    name = "scheduler"

    def __init__(
        self,
        orgs: list[str],
        *,
        interval_seconds: float,
        retry: RetryPolicy | None = None,
        start: StartPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        log: Callable[[str], None] = _log.info,
    ) -> None:
        self._orgs = orgs
        self._interval = interval_seconds
        self._retry = retry
        self._start_policy = start or StartPolicy()
        self._clock = clock
        self._say = log
        self._tokens: dict[str, _Token] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._settings: CloudactSettings | None = None
        self.reports: list[PassReport] = []
        """The passes done so far, newest last (the last 100)."""

    async def start(self, settings: CloudactSettings) -> None:
        """Schedules a pass per org (the first one now) on the running loop.

        Args:
            settings: With the addresses the services are serving on.
        """
        self._settings = settings
        scheduler = AsyncIOScheduler(timezone=UTC, event_loop=asyncio.get_running_loop())
        for org in self._orgs:
            scheduler.add_job(
                self._pass,
                IntervalTrigger(seconds=self._interval, jitter=self._interval / 4, timezone=UTC),
                args=[org],
                id=f"run-due:{org}",
                name=f"run due pipelines of {org}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=datetime.now(UTC),
            )
        scheduler.start()
        self._scheduler = scheduler
        self._say(f"scheduler: running due pipelines of {', '.join(self._orgs)} every ~{self._interval:g}s")

    async def stop(self) -> None:
        """Stops scheduling; a pass in flight is cancelled (its runs go on in ingest_svc, recorded)."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            # Let the executor's cancellations reach the passes before the channels are torn down.
            await asyncio.sleep(0)
        self._scheduler = None

    async def _pass(self, org: str) -> None:
        assert self._settings is not None
        try:
            token = await self._token(self._settings, org)
            report = await run_due_pass(
                self._settings,
                org,
                token=token.get_secret_value(),
                now=self._clock(),
                retry=self._retry,
                start=self._start_policy,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed pass must not end the scheduler; the next one retries
            self._say(f"scheduler: pass of {org} failed: {type(exc).__name__}: {_first_line(exc)}")
            return
        self.reports = [*self.reports[-99:], report]
        for started in report.started:
            self._say(
                f"scheduler: {org} credential {started.credential_id}: {started.outcome.value}"
                f" {started.run_id} {started.error}".rstrip()
            )

    async def _token(self, settings: CloudactSettings, org: str) -> SecretStr:
        """An operator token of ``org``, minted with the deployment's signing key when none is fresh."""
        now = datetime.now(UTC)
        held = self._tokens.get(org)
        if held is None or held.expires_at - now < _RENEW_BEFORE:
            from cloudact_shared.auth import Role, TokenAuthority

            def mint() -> tuple[str, TokenInfo]:
                return TokenAuthority(settings.tokens_path).mint(org, Role.OPERATOR, ttl=TOKEN_TTL, subject=SUBJECT)

            token, info = await asyncio.to_thread(mint)
            held = _Token(SecretStr(token), info.expires_at)
            self._tokens[org] = held
        return held.value


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    details = getattr(exc, "details", None)
    if callable(details):
        text = str(details())
    return text.splitlines()[0] if text else ""
