"""The transactional outbox: routing into rows, then claim (due, lease, order), settle, replay and stats."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.core import commands as c
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.tickets_state import Status
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.outbox import OutboxStore, Outcome, RowStatus, idempotency_key
from tests.conftest import FrozenClock
from tests.fixtures_directory import seed_directory

OUTBOX = t.table_of(t.OutboxRow)
LEASE = timedelta(minutes=5)

ALL = RoutingRule(0, "slack:C-ALL", frozenset(Category))
NEW_ONLY = RoutingRule(0, "slack:C-NEW", frozenset({Category.NEW}))
GLOBEX_ONLY = RoutingRule(0, "teams:globex", frozenset(Category), customer_id="CUST-100")
HIGH_AND_UP = RoutingRule(0, "webhook:http://127.0.0.1:9/high", frozenset(Category), min_priority=Priority.HIGH)
DISPATCHERS = RoutingRule(0, "email:dispatch@msp.example", frozenset(), dispatchers=True)


async def outbox_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all())


async def add_rows(engine: AsyncEngine, clock: FrozenClock, *specs: tuple[str, int]) -> list[int]:
    """Pending rows as (destination, ticket number), in id order."""
    ids: list[int] = []
    async with engine.begin() as conn:
        for destination, ticket in specs:
            result = await conn.execute(
                insert(OUTBOX)
                .values(
                    idempotency_key=idempotency_key(f"{ticket}:{len(ids) + 1}", destination),
                    destination=destination,
                    event_type="NoteAdded",
                    ticket_number=ticket,
                    payload={"n": len(ids)},
                    status=RowStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=clock.now(),
                    created_at=clock.now(),
                )
                .returning(OUTBOX.c.id)
            )
            ids.append(int(result.scalar_one()))
    return ids


async def row(engine: AsyncEngine, row_id: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(OUTBOX).where(OUTBOX.c.id == row_id))).one()


async def claimed_ids(store: OutboxStore, clock: FrozenClock, *, limit: int = 100) -> list[int]:
    return [d.id for d in await store.claim(now=clock.now(), limit=limit, lease=LEASE)]


# --- routing into rows -------------------------------------------------------------------------------------------


async def test_rows_are_written_per_matching_rule(engine: AsyncEngine, clock: FrozenClock) -> None:
    await seed_directory(engine, rules=(ALL, NEW_ONLY, GLOBEX_ONLY, HIGH_AND_UP, DISPATCHERS))
    bus = build_bus(engine, clock)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))

    acme = (await bus.handle(c.OpenTicket(title="A", customer_id="CUST-789"), tom)).number
    globex = (await bus.handle(c.OpenTicket(title="G", customer_id="CUST-100", priority=Priority.LOW), tom)).number
    critical = (
        await bus.handle(c.OpenTicket(title="C", customer_id="CUST-789", priority=Priority.CRITICAL), tom)
    ).number
    await bus.handle(c.EscalateTicket(number=acme, reason="VIP"), tom)  # medium -> high, pages dispatchers
    await bus.handle(c.ChangeStatus(number=globex, status=Status.WAITING_CUSTOMER), tom)  # + internal events
    await bus.handle(
        c.EscalateTicket(number=globex, reason="quiet", raise_priority=False, notify_dispatchers=False), tom
    )

    got = {(r.destination, r.ticket_number, r.payload["version"], r.event_type) for r in await outbox_rows(engine)}

    expected = {
        # medium ACME ticket opened: the catch-all and the "new" channel
        (ALL.destination, acme, 1, "TicketOpened"),
        (NEW_ONLY.destination, acme, 1, "TicketOpened"),
        # low Globex ticket opened: plus the Globex-only rule
        (ALL.destination, globex, 1, "TicketOpened"),
        (NEW_ONLY.destination, globex, 1, "TicketOpened"),
        (GLOBEX_ONLY.destination, globex, 1, "TicketOpened"),
        # critical ticket: passes min_priority; the critical-open escalation (reaction) pages the dispatchers
        (ALL.destination, critical, 1, "TicketOpened"),
        (NEW_ONLY.destination, critical, 1, "TicketOpened"),
        (HIGH_AND_UP.destination, critical, 1, "TicketOpened"),
        (ALL.destination, critical, 2, "TicketEscalated"),
        (HIGH_AND_UP.destination, critical, 2, "TicketEscalated"),
        (DISPATCHERS.destination, critical, 2, "TicketEscalated"),
        # escalation raised the ACME ticket to high: the high rule hears both events, dispatchers the escalation
        (ALL.destination, acme, 2, "TicketPriorityChanged"),
        (HIGH_AND_UP.destination, acme, 2, "TicketPriorityChanged"),
        (ALL.destination, acme, 3, "TicketEscalated"),
        (HIGH_AND_UP.destination, acme, 3, "TicketEscalated"),
        (DISPATCHERS.destination, acme, 3, "TicketEscalated"),
        # waiting for the customer: the status change goes out, FirstResponseMet and SlaPaused (v3, v4) do not
        (ALL.destination, globex, 2, "TicketStatusChanged"),
        (GLOBEX_ONLY.destination, globex, 2, "TicketStatusChanged"),
        # an escalation that does not ask for the dispatchers does not page them
        (ALL.destination, globex, 5, "TicketEscalated"),
        (GLOBEX_ONLY.destination, globex, 5, "TicketEscalated"),
    }
    assert got == expected


async def test_internal_events_never_reach_the_outbox(engine: AsyncEngine, clock: FrozenClock) -> None:
    await seed_directory(engine, rules=(ALL, DISPATCHERS))
    bus = build_bus(engine, clock)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    number = (await bus.handle(c.OpenTicket(title="A", customer_id="CUST-789"), tom)).number
    clock.advance(hours=1)
    await bus.handle(c.ChangeStatus(number=number, status=Status.WAITING_CUSTOMER), tom)
    clock.advance(hours=1)
    await bus.handle(c.ChangeStatus(number=number, status=Status.IN_PROGRESS), tom)

    types = [r.event_type for r in await outbox_rows(engine)]

    assert types == ["TicketOpened", "TicketStatusChanged", "TicketStatusChanged"]


async def test_no_rules_no_rows(engine: AsyncEngine, clock: FrozenClock) -> None:
    await seed_directory(engine)
    bus = build_bus(engine, clock)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    await bus.handle(c.OpenTicket(title="A", customer_id="CUST-789", priority=Priority.CRITICAL), tom)

    assert await outbox_rows(engine) == []


async def test_idempotency_keys_are_stable_and_unique(engine: AsyncEngine, clock: FrozenClock) -> None:
    await seed_directory(engine, rules=(ALL, NEW_ONLY, HIGH_AND_UP))
    bus = build_bus(engine, clock)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"))
    for title in ("one", "two"):
        number = (
            await bus.handle(c.OpenTicket(title=title, customer_id="CUST-789", priority=Priority.HIGH), tom)
        ).number
        await bus.handle(c.AddNote(number=number, body="hi"), tom)
    store = OutboxStore(engine)

    rows = await outbox_rows(engine)
    keys = [r.idempotency_key for r in rows]

    assert len(rows) == 10  # per ticket: opened -> all, new, high; internal note -> all, high
    assert len(set(keys)) == len(keys)
    assert keys == [idempotency_key(f"{r.ticket_number}:{r.payload['version']}", r.destination) for r in rows]
    assert [r.payload["event_id"] for r in rows] == [f"{r.ticket_number}:{r.payload['version']}" for r in rows]
    deliveries = await store.claim(now=clock.now(), limit=100, lease=LEASE)
    assert {d.idempotency_key for d in deliveries} <= set(keys)
    await store.settle([Outcome(d.id, RowStatus.DEAD, error="gone") for d in deliveries], now=clock.now())
    await store.replay(dead=True, now=clock.now())
    assert [r.idempotency_key for r in await outbox_rows(engine)] == keys  # a replay re-sends under the same key
    assert idempotency_key("10000:1", "slack:a") == idempotency_key("10000:1", "slack:a")
    assert idempotency_key("10000:1", "slack:a") != idempotency_key("10000:1", "slack:b")
    assert idempotency_key("10000:1", "slack:a") != idempotency_key("10000:2", "slack:a")


async def test_row_payload_is_the_event_envelope_with_a_ticket_summary(engine: AsyncEngine, clock: FrozenClock) -> None:
    await seed_directory(engine, rules=(ALL,))
    bus = build_bus(engine, clock)
    tom = new_context(await actor_for(engine, clock, channel="test", external_id="tom"), correlation_id="corr-9")
    number = (await bus.handle(c.OpenTicket(title="Printer", customer_id="CUST-789", assignee_id="tom"), tom)).number

    payloads = [r.payload for r in await outbox_rows(engine)]

    assert [p["type"] for p in payloads] == ["TicketOpened", "TicketAssigned", "TicketStatusChanged"]
    assert {p["correlation_id"] for p in payloads} == {"corr-9"}
    assert {p["actor"] for p in payloads} == {"technician:tom"}
    assert payloads[0]["data"]["title"] == "Printer"
    assert payloads[1]["data"]["assignee_id"] == "tom"
    assert all(p["number"] == number for p in payloads)
    assert {p["ticket"]["status"] for p in payloads} == {"open"}  # the state after the whole append
    assert payloads[0]["ticket"]["first_response_due"] == "2026-11-23T13:00:00+00:00"


# --- claim -------------------------------------------------------------------------------------------------------


async def test_claim_skips_rows_not_yet_due(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = OutboxStore(engine)
    (first,) = await add_rows(engine, clock, ("slack:A", 1))
    assert await claimed_ids(store, clock) == [first]
    await store.settle(
        [Outcome(first, next_attempt_at=clock.now() + timedelta(minutes=10), error="429", burn_attempt=False)],
        now=clock.now(),
    )

    clock.advance(minutes=9, seconds=59)
    assert await claimed_ids(store, clock) == []
    clock.advance(seconds=1)
    assert await claimed_ids(store, clock) == [first]


async def test_claim_is_a_lease(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = OutboxStore(engine)
    ids = await add_rows(engine, clock, ("slack:A", 1), ("slack:A", 2))

    deliveries = await store.claim(now=clock.now(), limit=10, lease=LEASE)
    assert [d.id for d in deliveries] == ids
    assert (await row(engine, ids[0])).claimed_until == clock.now() + LEASE

    assert await claimed_ids(store, clock) == []  # held by the first claimer
    clock.advance(minutes=5)
    assert await claimed_ids(store, clock) == []  # the lease runs until claimed_until
    clock.advance(seconds=1)
    assert await claimed_ids(store, clock) == ids  # the worker died: the rows are claimable again
    assert await claimed_ids(store, clock) == []


async def test_claim_respects_the_limit_and_id_order(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = OutboxStore(engine)
    ids = await add_rows(engine, clock, *[("slack:A", n) for n in range(1, 6)])

    assert await claimed_ids(store, clock, limit=2) == ids[:2]
    assert await claimed_ids(store, clock, limit=2) == ids[2:4]
    assert await claimed_ids(store, clock, limit=2) == ids[4:]


async def test_claim_keeps_order_per_destination_and_ticket(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = OutboxStore(engine)
    a1_one, a1_two, a2_one, a2_two, b1_one, a3_one = await add_rows(
        engine,
        clock,
        ("slack:ONE", 7),
        ("slack:TWO", 7),
        ("slack:ONE", 7),
        ("slack:TWO", 7),
        ("slack:ONE", 8),
        ("slack:ONE", 7),
    )

    # later rows of the same (destination, ticket) wait; other tickets and destinations do not
    assert await claimed_ids(store, clock) == [a1_one, a1_two, b1_one]

    # a retry scheduled for later still holds back what follows it
    await store.settle(
        [Outcome(a1_one, next_attempt_at=clock.now() + timedelta(hours=1), error="503", burn_attempt=False)],
        now=clock.now(),
    )
    assert await claimed_ids(store, clock) == []

    # delivered or dead rows release the next one, one at a time
    await store.settle(
        [Outcome(a1_one, RowStatus.DELIVERED), Outcome(a1_two, RowStatus.DEAD, error="404")], now=clock.now()
    )
    assert await claimed_ids(store, clock) == [a2_one, a2_two]
    await store.settle([Outcome(a2_one, RowStatus.DELIVERED)], now=clock.now())
    assert await claimed_ids(store, clock) == [a3_one]


# --- settle, replay, stats ---------------------------------------------------------------------------------------


async def test_settle_delivered_dead_and_retry(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = OutboxStore(engine)
    delivered, dead, retried, burnt = await add_rows(
        engine, clock, ("slack:A", 1), ("slack:A", 2), ("slack:A", 3), ("slack:A", 4)
    )
    await store.claim(now=clock.now(), limit=10, lease=LEASE)
    clock.advance(seconds=30)
    later = clock.now() + timedelta(minutes=2)

    await store.settle(
        [
            Outcome(delivered, RowStatus.DELIVERED),
            Outcome(dead, RowStatus.DEAD, error="channel_not_found"),
            Outcome(retried, next_attempt_at=later, error="ratelimited", burn_attempt=False),
            Outcome(burnt, next_attempt_at=later, error="timeout"),
        ],
        now=clock.now(),
    )

    d, x, r, b = [await row(engine, i) for i in (delivered, dead, retried, burnt)]
    assert (d.status, d.attempts, d.delivered_at, d.claimed_until, d.last_error) == (
        "delivered",
        1,
        clock.now(),
        None,
        None,
    )
    assert (x.status, x.attempts, x.delivered_at, x.last_error) == ("dead", 1, None, "channel_not_found")
    assert (r.status, r.attempts, r.next_attempt_at, r.claimed_until, r.last_error) == (
        "pending",
        0,
        later,
        None,
        "ratelimited",
    )
    assert (b.status, b.attempts, b.next_attempt_at) == ("pending", 1, later)
    clock.advance(minutes=2)
    deliveries = await store.claim(now=clock.now(), limit=10, lease=LEASE)
    assert [(dl.id, dl.attempts) for dl in deliveries] == [(retried, 0), (burnt, 1)]


async def test_settle_nothing_is_a_no_op(engine: AsyncEngine, clock: FrozenClock) -> None:
    await OutboxStore(engine).settle([], now=clock.now())
    assert await outbox_rows(engine) == []


async def test_replay_dead_rows_and_rows_by_id(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = OutboxStore(engine)
    delivered, dead_a, dead_b, pending = await add_rows(
        engine, clock, ("slack:A", 1), ("slack:A", 2), ("slack:A", 3), ("slack:A", 4)
    )
    await store.claim(now=clock.now(), limit=3, lease=LEASE)
    await store.settle(
        [
            Outcome(delivered, RowStatus.DELIVERED),
            Outcome(dead_a, RowStatus.DEAD, error="x"),
            Outcome(dead_b, RowStatus.DEAD, error="y"),
        ],
        now=clock.now(),
    )
    clock.advance(hours=1)

    assert await store.replay(now=clock.now()) == 0
    assert await store.replay(dead=True, now=clock.now()) == 2

    statuses = {r.id: (r.status, r.attempts) for r in await outbox_rows(engine)}
    assert statuses == {
        delivered: ("delivered", 1),
        dead_a: ("pending", 0),
        dead_b: ("pending", 0),
        pending: ("pending", 0),
    }
    assert (await row(engine, dead_a)).next_attempt_at == clock.now()

    assert await store.replay(ids=[delivered], now=clock.now()) == 1
    again = await row(engine, delivered)
    assert (again.status, again.attempts, again.delivered_at, again.claimed_until) == ("pending", 0, None, None)
    assert sorted(await claimed_ids(store, clock)) == [delivered, dead_a, dead_b, pending]


async def test_rows_lists_newest_first_and_filters_by_status(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = OutboxStore(engine)
    first, second, third = await add_rows(engine, clock, ("slack:A", 1), ("slack:A", 2), ("slack:A", 3))
    await store.settle([Outcome(second, RowStatus.DEAD, error="x")], now=clock.now())

    assert [r.id for r in await store.rows()] == [third, second, first]
    assert [r.id for r in await store.rows(limit=1)] == [third]
    assert [r.id for r in await store.rows(status="dead")] == [second]
    assert [r.id for r in await store.rows(status="pending")] == [third, first]


async def test_stats_counts_by_status_and_ages_the_oldest_pending_row(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = OutboxStore(engine)
    assert await store.stats(now=clock.now()) == {"by_status": {}, "oldest_pending_age_seconds": 0.0}
    old, delivered = await add_rows(engine, clock, ("slack:A", 1), ("slack:A", 2))
    clock.advance(minutes=3)
    await add_rows(engine, clock, ("slack:A", 3), ("slack:A", 4))
    await store.settle([Outcome(delivered, RowStatus.DELIVERED)], now=clock.now())
    clock.advance(minutes=2)

    stats = await store.stats(now=clock.now())

    assert stats == {"by_status": {"pending": 3, "delivered": 1}, "oldest_pending_age_seconds": 300.0}
    await store.settle([Outcome(old, RowStatus.DEAD)], now=clock.now())
    assert (await store.stats(now=clock.now()))["oldest_pending_age_seconds"] == 120.0


# --- PostgreSQL: concurrent claimers -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_concurrent_claimers_never_share_a_row(engine: AsyncEngine, clock: FrozenClock) -> None:
    """Two dispatchers on separate engines claim at once; FOR UPDATE SKIP LOCKED keeps their batches disjoint."""
    other = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        stores = [OutboxStore(engine), OutboxStore(other)]
        for rounds in range(5):
            ids = await add_rows(engine, clock, *[(f"slack:R{rounds}", n) for n in range(40)])
            batches = await asyncio.gather(*(s.claim(now=clock.now(), limit=25, lease=LEASE) for s in stores * 2))
            claimed = [d.id for batch in batches for d in batch]

            assert len(claimed) == len(set(claimed)), f"round {rounds}: a row was claimed twice"
            assert set(claimed) == set(ids)
            clock.advance(minutes=10)  # every lease of this round runs out; the next round re-claims nothing settled
            await stores[0].settle([Outcome(i, RowStatus.DELIVERED) for i in ids], now=clock.now())
    finally:
        await other.dispose()


def test_dispatcher_rule_hears_escalations_whatever_its_filters() -> None:
    from datetime import UTC, datetime

    from psa_chatops.core.events import TicketEscalated
    from psa_chatops.core.priorities import Priority
    from psa_chatops.core.routing import Category, RoutingRule

    rule = RoutingRule(
        1, "slack:D", frozenset(Category), customer_id="CUST-100", min_priority=Priority.CRITICAL, dispatchers=True
    )
    page = TicketEscalated(
        number=1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        level=1,
        reason="sla_breach",
        from_priority=Priority.LOW,
        to_priority=Priority.MEDIUM,
        notify_dispatchers=True,
    )
    assert rule.matches(page, customer_id="CUST-789", priority=Priority.LOW)
    quiet = TicketEscalated(
        number=1,
        occurred_at=page.occurred_at,
        level=1,
        reason="manual",
        from_priority=Priority.LOW,
        to_priority=Priority.LOW,
        notify_dispatchers=False,
    )
    assert not rule.matches(quiet, customer_id="CUST-789", priority=Priority.LOW)
