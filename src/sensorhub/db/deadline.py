"""Deadlines for database calls on the ingest path, and what a stalled call was waiting on.

A write that does not finish within its deadline is abandoned: its connection is terminated (the
server rolls the transaction back, so nothing of the batch is half-written), the caller raises
`WriteDeadlineExceeded`, and the ingest buffer spools the batch and carries on (issue 17). Before
abandoning it, another connection samples `pg_stat_activity` for the stalled backend and the
backends blocking it (`pg_blocking_pids`), so the WARNING says what the write waited on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

logger = logging.getLogger(__name__)

T = TypeVar("T")
DIAGNOSE_TIMEOUT_S = 1.0

WAITING_ON = """
SELECT a.wait_event_type, a.wait_event, a.state, left(a.query, 200) AS query,
       (SELECT string_agg(format('pid %s [%s] %s: %s', b.pid, b.application_name, b.state,
                                 left(b.query, 200)), '; ')
        FROM pg_stat_activity AS b WHERE b.pid = ANY(pg_blocking_pids(a.pid))) AS blockers
FROM pg_stat_activity AS a WHERE a.pid = $1
"""


class WriteDeadlineExceeded(TimeoutError):
    """A database write on the ingest path ran past its deadline and was rolled back."""


async def describe_wait(pool: asyncpg.Pool, pid: int) -> str:
    """One line saying what backend `pid` waits on and who blocks it; never raises."""
    try:
        async with asyncio.timeout(DIAGNOSE_TIMEOUT_S):
            async with pool.acquire() as connection:
                row = await connection.fetchrow(WAITING_ON, pid)
    except Exception as error:
        return f"unknown ({type(error).__name__} while sampling pg_stat_activity)"
    if row is None:
        return f"backend {pid} no longer in pg_stat_activity"
    return (
        f"wait_event_type={row['wait_event_type']} wait_event={row['wait_event']} "
        f"state={row['state']} query={row['query']!r} blocked_by={row['blockers'] or 'nobody'}"
    )


async def with_deadline(
    connection: asyncpg.Connection,
    operation: Awaitable[T],
    *,
    timeout: float,
    pool: asyncpg.Pool,
    on_timeout: Callable[[], None] = lambda: None,
) -> T:
    """Await `operation` (running on `connection`) for at most `timeout` seconds.

    Raises:
        WriteDeadlineExceeded: after logging what the backend waited on, calling `on_timeout`
            (a counter) and terminating `connection`, which rolls its transaction back.
    """
    task = asyncio.ensure_future(operation)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    pid = connection.get_server_pid()
    waited = await describe_wait(pool, pid)
    if task.done():  # finished while we looked: keep the result rather than spool it again
        return task.result()
    on_timeout()
    logger.warning(
        "ingest write exceeded its %.3g s deadline (INGEST_WRITE_TIMEOUT); rolling it back and "
        "spooling the batch. Backend %d was waiting on: %s",
        timeout,
        pid,
        waited,
    )
    connection.terminate()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    raise WriteDeadlineExceeded(f"database write exceeded {timeout:g} s; waited on: {waited}")
