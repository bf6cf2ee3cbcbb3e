"""Alerts that arrive together are written together: the orchestrator of ``IngestAlert``.

An alert storm is many small requests at once. Each request queues its alert here and waits; a drain takes
everything queued (up to ``limit``) into one ``IngestAlertBatch``: one transaction, a handful of statements for
the lot (see ``handlers.alert_ingest``). While a batch is being written the next one fills, so batches grow with
the load and a lone alert waits for nobody. A request is answered only after its batch committed and its events'
reactions ran, exactly as ``MessageBus.handle`` answers a command.

A batch that fails as a whole (a database error, a conflict that outlived the bus's retries) is run again alert by
alert, so only the alert at fault fails; an alert that fails alone (not allowed) fails only its own request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from psa_chatops.core import commands as c
from psa_chatops.handlers.alert_ingest import IngestAlertBatch, IngestResult
from psa_chatops.handlers.alert_views import AlertIngestView
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import CommandContext, RecordedEvent

logger = logging.getLogger(__name__)
BATCH_LIMIT = 64  # alerts per transaction: a group of that size commits in a few milliseconds
IN_FLIGHT = 1  # batches at once: the next one fills while one is written (SQLite writes one at a time anyway)


@dataclass
class _Arrival:
    command: c.IngestAlert
    context: CommandContext
    future: asyncio.Future[AlertIngestView] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AlertBatcher:
    def __init__(self, *, limit: int = BATCH_LIMIT, in_flight: int = IN_FLIGHT) -> None:
        self._limit, self._in_flight = limit, in_flight
        self._waiting: deque[_Arrival] = deque()
        self._draining = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = self.alerts = 0  # written so far: alerts / batches is the mean batch size

    async def __call__(self, command: c.IngestAlert, context: CommandContext, bus: MessageBus) -> AlertIngestView:
        arrival = _Arrival(command, context)
        arrival.future.add_done_callback(_retrieved)  # a request that gave up must not log "never retrieved"
        self._waiting.append(arrival)
        if self._draining < self._in_flight:
            self._draining += 1
            task = asyncio.create_task(self._drain(bus))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # The caller may give up (a client that hung up); its alert is written all the same.
        return await asyncio.shield(arrival.future)

    async def _drain(self, bus: MessageBus) -> None:
        try:
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(self._limit, len(self._waiting)))]
                await self._run(batch, bus)
        finally:
            self._draining -= 1

    async def _run(self, batch: list[_Arrival], bus: MessageBus) -> None:
        command = IngestAlertBatch(items=tuple((a.command.signal, a.context) for a in batch))
        try:
            results, events = await bus.execute(command, batch[0].context)
            self.batches, self.alerts = self.batches + 1, self.alerts + len(batch)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], exc)
                return
            logger.warning("an alert batch of %d failed (%s); writing its alerts one by one", len(batch), exc)
            for arrival in batch:
                await self._run([arrival], bus)
            return
        except BaseException as exc:  # cancelled (shutdown): nobody waits in vain
            for arrival in batch:
                _settle(arrival, exc)
            raise
        bus.announce(events)
        # Each request's follow-ups in its own chain, all at once: on SQLite they share the writer's next commit.
        chains = _by_request(batch, events)
        outcomes = await asyncio.gather(
            *(bus.react(chain, arrivals[0].context) for arrivals, chain in chains), return_exceptions=True
        )
        for (arrivals, _), outcome in zip(chains, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # as ``handle`` would: the request learns a follow-up failed
                for arrival in arrivals:
                    _settle(arrival, outcome)
        for arrival, result in zip(batch, results, strict=True):
            _settle(arrival, result)


def _by_request(batch: list[_Arrival], events: list[RecordedEvent]) -> list[tuple[list[_Arrival], list[RecordedEvent]]]:
    """The batch's events, grouped by the request (context) they were recorded for, in order."""
    groups: dict[str, tuple[list[_Arrival], list[RecordedEvent]]] = {}
    for arrival in batch:
        groups.setdefault(arrival.context.correlation_id, ([], []))[0].append(arrival)
    for record in events:
        group = groups.get(record.correlation_id)
        if group is not None:
            group[1].append(record)
    return [group for group in groups.values() if group[1]]


def _settle(arrival: _Arrival, outcome: IngestResult | BaseException) -> None:
    if arrival.future.done():  # already failed by a follow-up
        return
    if isinstance(outcome, BaseException):
        arrival.future.set_exception(outcome)
    else:
        arrival.future.set_result(outcome)


def _retrieved(future: asyncio.Future[AlertIngestView]) -> None:
    if not future.cancelled():
        future.exception()
