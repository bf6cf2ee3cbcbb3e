"""Alerts that arrive together are written together (``handlers.alert_batching``, ``handlers.alert_ingest``), and
each still acts for its own request: its actor and correlation id on the events, its own audit line, its own error.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import build_bus
from psa_chatops.core.alerts import AlertSeverity
from psa_chatops.core.errors import ForbiddenError
from psa_chatops.handlers import alert_queries, queries
from psa_chatops.handlers.alert_views import AlertIngestView
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import AuditSlot, CommandContext
from psa_chatops.storage import tables as t
from psa_chatops.storage.sqlite_writer import SqliteWriter
from tests.conftest import FrozenClock
from tests.handlers.conftest import ContextFor
from tests.handlers.test_alerts import alert, ingest

AUDIT = t.table_of(t.AuditLogRow)


def audited(ctx: CommandContext, request_id: str) -> CommandContext:
    """The context a REST request gives its command: its own correlation id and audit line."""
    slot = AuditSlot(method="POST", route="/security/alerts", path="/api/v1/security/alerts", status=201,
                     request_id=request_id)  # fmt: skip
    return replace(ctx, correlation_id=f"corr-{request_id}", audit=slot)


async def test_concurrent_requests_share_a_transaction_and_keep_their_own_context(
    db: AsyncEngine, clock: FrozenClock, context_for: ContextFor
) -> None:
    writer = SqliteWriter(db.url.render_as_string(hide_password=False)) if db.dialect.name == "sqlite" else None
    bus = build_bus(db, clock, writer=writer)
    commits: list[int] = []
    engine = await writer.call(lambda: writer.engine) if writer else db.sync_engine
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    people = [await context_for(name) for name in ("alice", "tom", "alice", "tom")] * 3
    contexts = [audited(ctx, f"req-{i}") for i, ctx in enumerate(people)]

    results: list[AlertIngestView] = await asyncio.gather(
        *(ingest(bus, ctx, alert(f"B-{i}", affected_asset=f"ws-{i}")) for i, ctx in enumerate(contexts))
    )

    assert [r.outcome for r in results] == ["new_ticket"] * 12
    assert len({r.alert.ticket_number for r in results}) == 12
    assert len(commits) < 12  # batched: one alert per transaction would commit 12 times
    for ctx, result in zip(contexts, results, strict=True):
        history = await bus.read(lambda uow, n=result.alert.ticket_number: queries.ticket_history(n, uow=uow), ctx)
        assert {(r.actor, r.correlation_id) for r in history} == {(ctx.actor.id, ctx.correlation_id)}
    async with db.connect() as conn:
        lines = (await conn.execute(select(AUDIT).order_by(AUDIT.c.request_id))).all()
    by_request = {line.request_id: line for line in lines}
    assert len(lines) == 12
    for ctx, result in zip(contexts, results, strict=True):
        assert ctx.audit is not None
        assert ctx.audit.written
        line = by_request[ctx.audit.request_id]
        assert (line.actor, line.resource) == (ctx.actor.id, f"ticket:{result.alert.ticket_number}")
    if writer is not None:
        await asyncio.to_thread(writer.close)


async def test_an_alert_its_sender_may_not_report_fails_alone(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor
) -> None:
    alice, sam = await context_for("alice"), await context_for("sam")  # sam sees CUST-100 only
    refused = audited(sam, "sam-1")
    calls = [ingest(bus, alice, alert(f"OK-{i}", affected_asset=f"ws-{i}")) for i in range(4)]
    calls.insert(2, ingest(bus, refused, alert("NO-1")))

    results: list[Any] = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(results[2], ForbiddenError)
    assert [r.outcome for i, r in enumerate(results) if i != 2] == ["new_ticket"] * 4
    assert refused.audit is not None
    assert not refused.audit.written
    async with db.connect() as conn:
        assert (await conn.execute(select(AUDIT))).first() is None


async def test_two_alerts_on_one_machine_in_one_batch_share_a_ticket(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor
) -> None:
    alice = await context_for("alice")

    first, second, copy = await asyncio.gather(
        ingest(bus, alice, alert("M-1")), ingest(bus, alice, alert("M-2")), ingest(bus, alice, alert("M-1"))
    )

    assert (first.outcome, second.outcome, copy.outcome) == ("new_ticket", "correlated", "duplicate")
    assert first.alert.ticket_number == second.alert.ticket_number == copy.alert.ticket_number
    assert copy.alert.count == 2
    history = await bus.read(lambda uow: queries.ticket_history(first.alert.ticket_number or 0, uow=uow), alice)
    received = [r.event for r in history if r.event.type == "AlertReceived"]
    assert [(e.alert.alert_id, e.correlated) for e in received] == [("M-1", False), ("M-2", True)]


async def test_a_batch_that_cannot_be_written_is_retried_alert_by_alert(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite stores a NUL character; PostgreSQL refuses it, which fails the whole batch")
    alice = await context_for("alice")
    calls = [ingest(bus, alice, alert(f"OK-{i}", affected_asset=f"ws-{i}")) for i in range(4)]
    calls.append(ingest(bus, alice, alert("BAD-1", title="nul \x00 byte")))

    results: list[Any] = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(results[4], Exception)  # the database refused it: that request alone fails
    assert [r.outcome for r in results[:4]] == ["new_ticket"] * 4
    for i in range(4):
        stored = await bus.read(lambda uow, i=i: alert_queries.show_alert("rocketcyber", f"OK-{i}", uow=uow), alice)
        assert stored.ticket_number == results[i].alert.ticket_number


async def test_a_critical_alert_in_a_batch_escalates_in_its_own_chain(
    db: AsyncEngine, bus: MessageBus, context_for: ContextFor
) -> None:
    alice = await context_for("alice")
    contexts = [audited(alice, f"crit-{i}") for i in range(3)]

    results = await asyncio.gather(
        *(
            ingest(bus, ctx, alert(f"C-{i}", affected_asset=f"ws-{i}", severity=AlertSeverity.CRITICAL))
            for i, ctx in enumerate(contexts)
        )
    )

    for ctx, result in zip(contexts, results, strict=True):
        history = await bus.read(lambda uow, n=result.alert.ticket_number: queries.ticket_history(n, uow=uow), ctx)
        escalations = [r for r in history if r.event.type == "TicketEscalated"]
        assert len(escalations) == 1
        assert escalations[0].correlation_id == ctx.correlation_id
        assert escalations[0].causation_id is not None
