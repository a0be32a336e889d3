"""Waiting until something is ready (a server answers, a file appears): one helper, on tenacity.

Every readiness poll of the project (the supervisor's health checks, the emulators the tests and
the demo start, the benchmark's S3 server) goes through here, so each has a deadline, a fixed
interval, and a failure that says what it was waiting for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

_T = TypeVar("_T")


def _not_ready(value: object) -> bool:
    return value is None or value is False


def wait_until(check: Callable[[], _T | None], *, what: str, timeout: float, interval: float = 0.1) -> _T:
    """Calls ``check`` every ``interval`` seconds until it returns something other than None/False.

    ``check`` may raise to give up at once (e.g. the process it waits for exited).

    Returns:
        What ``check`` returned.

    Raises:
        TimeoutError: naming ``what``, when ``timeout`` seconds pass first.
    """
    retrying = Retrying(
        retry=retry_if_result(_not_ready), stop=stop_after_delay(timeout), wait=wait_fixed(interval), reraise=True
    )
    try:
        result: _T = retrying(check)  # type: ignore[assignment]
    except RetryError:
        raise TimeoutError(f"{what} not ready within {timeout:g} s") from None
    return result


async def await_until(
    check: Callable[[], Awaitable[_T | None]], *, what: str, timeout: float, interval: float = 0.1
) -> _T:
    """``wait_until`` for a coroutine ``check``, without blocking the event loop."""
    retrying = AsyncRetrying(
        retry=retry_if_result(_not_ready), stop=stop_after_delay(timeout), wait=wait_fixed(interval), reraise=True
    )
    try:
        result: _T = await retrying(check)
    except RetryError:
        raise TimeoutError(f"{what} not ready within {timeout:g} s") from None
    return result
