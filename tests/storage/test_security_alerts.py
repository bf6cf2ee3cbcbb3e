"""The alert store on SQLite and PostgreSQL: the unique key under racing transactions, atomic duplicate counts,
the correlation query, asset look-up, the triage customer, vendor account mappings and severity overrides."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from psa_chatops.bot.bootstrap import system_context
from psa_chatops.core.alert_triage import AlertRecord
from psa_chatops.core.alerts import AlertAction, AlertSeverity, AlertStatus
from psa_chatops.core.directory import Asset
from psa_chatops.core.errors import ConcurrencyError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.handlers.alert_ports import AlertFilter
from psa_chatops.storage import directory_writer as w
from psa_chatops.storage import security_alerts as sa
from psa_chatops.storage import tables as t
from psa_chatops.storage.directory import DirectoryCache, SqlDirectory

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
RECORD = AlertRecord(
    provider="rocketcyber",
    alert_id="RC-1",
    severity=AlertSeverity.HIGH,
    threat_type="ransomware",
    title="Ransomware",
    first_seen=T0,
    last_seen=T0,
    count=1,
    action=AlertAction.CREATE_TICKET,
    status=AlertStatus.NEW,
    customer_id="CUST-789",
    correlation_key="CUST-789|asset:WS-CLIENT-042|ransomware",
    raw={"provider": "RocketCyber", "nested": {"ok": True}},
)


def store(conn: AsyncConnection) -> sa.SqlAlertStore:
    directory = SqlDirectory(conn, DirectoryCache())
    return sa.SqlAlertStore(
        conn, dialect=conn.dialect.name, context=lambda: system_context("test"), directory=directory
    )


async def add_ticket(conn: AsyncConnection, number: int, status: str = "open") -> None:
    await conn.execute(
        insert(t.table_of(t.TicketRow)).values(
            number=number, title="x", description="", customer_id="CUST-789", priority="high", status=status,
            source="alert", tags=[], sla={}, created_at=T0, updated_at=T0, version=1,
        )
    )  # fmt: skip


async def test_insert_get_and_raw_payload_round_trip(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await store(conn).insert(RECORD, actor="apikey:k1")
    async with db.connect() as conn:
        found = await store(conn).get("rocketcyber", "RC-1")
        row = (await conn.execute(select(sa.ALERTS))).one()

    assert found == RECORD
    assert (row.created_by, row.updated_by) == ("apikey:k1", "apikey:k1")


async def test_a_second_insert_of_the_same_alert_is_a_concurrency_error(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await store(conn).insert(RECORD, actor="a")
    with pytest.raises(ConcurrencyError):
        async with db.begin() as conn:
            await store(conn).insert(replace(RECORD, title="again"), actor="b")


async def test_racing_transactions_leave_one_row(db: AsyncEngine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time (the writer thread); the bus test covers it")
    first = await db.connect()
    second = await db.connect()
    try:
        _ = await first.begin()
        _ = await second.begin()
        await store(first).insert(RECORD, actor="a")
        racing = asyncio.create_task(store(second).insert(RECORD, actor="b"))  # waits for the first to end
        await first.commit()
        with pytest.raises(ConcurrencyError):
            await racing
    finally:
        await first.close()
        await second.close()


async def test_count_again_is_atomic_and_keeps_the_latest_sighting(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await store(conn).insert(RECORD, actor="a")

    async def again(at: datetime) -> AlertRecord:
        async with db.begin() as conn:
            return await store(conn).count_again("rocketcyber", "RC-1", seen_at=at, actor="b")

    later = await again(T0 + timedelta(minutes=5))
    earlier = await again(T0 + timedelta(minutes=1))  # a late copy does not move last_seen back

    assert (later.count, earlier.count) == (2, 3)
    assert earlier.last_seen == T0 + timedelta(minutes=5)
    assert earlier.first_seen == T0


async def test_correlation_finds_recent_alerts_on_open_tickets_only(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await add_ticket(conn, 12000)
        await add_ticket(conn, 12001, status="closed")
        s = store(conn)
        await s.insert(replace(RECORD, ticket_number=12000), actor="a")
        await s.insert(
            replace(RECORD, alert_id="RC-2", ticket_number=12001, last_seen=T0 + timedelta(minutes=9)), actor="a"
        )
        await s.insert(replace(RECORD, alert_id="RC-3", correlation_key="other"), actor="a")
    async with db.connect() as conn:
        s = store(conn)
        found = await s.correlated(RECORD.correlation_key or "", since=T0 - timedelta(minutes=1))
        too_old = await s.correlated(RECORD.correlation_key or "", since=T0 + timedelta(seconds=1))

    assert found is not None
    assert (found.alert_id, found.ticket_number) == ("RC-1", 12000)  # the newer one's ticket is closed
    assert too_old is None


async def test_assets_by_name_hostname_and_short_name(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await w.add_assets(
            conn,
            [
                Asset("A-1", "CUST-789", "Build_01", "build_01.corp.local"),
                Asset("A-2", "CUST-789", "BuildX01", "buildx01.corp.local"),  # "_" must not match any letter
                Asset("A-3", "CUST-100", "Build_01", "build_01.globex.local"),  # another customer's
            ],
        )
    async with db.connect() as conn:
        s = store(conn)
        by_fqdn = await s.assets_named("CUST-789", "BUILD_01.Corp.Local")
        by_short = await s.assets_named("CUST-789", "build_01")
        by_ws = await s.assets_named("CUST-789", "ws-client-042")

    assert [a.id for a in by_fqdn] == ["A-1"]
    assert [a.id for a in by_short] == ["A-1"]
    assert [a.id for a in by_ws] == ["WS-CLIENT-042"]


async def test_the_triage_customer_is_created_once(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        assert await store(conn).ensure_triage_customer("TRIAGE")
        assert await store(conn).ensure_triage_customer("TRIAGE")
    async with db.connect() as conn:
        rows = (await conn.execute(select(sa.CUSTOMERS).where(sa.CUSTOMERS.c.id == "TRIAGE"))).all()

    assert [(r.name, r.sla_policy_id) for r in rows] == [("Security triage", "standard")]


async def test_without_any_sla_policy_there_is_no_triage_customer(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert not await store(conn).ensure_triage_customer("TRIAGE")


async def test_announce_writes_ticketless_rows_for_alert_rules(db: AsyncEngine) -> None:
    rules = [
        RoutingRule(1, "webhook:http://127.0.0.1:9/soc", frozenset({Category.ALERT})),
        RoutingRule(  # a second rule to the same place: still one row per destination
            2, "webhook:http://127.0.0.1:9/soc", frozenset({Category.ALERT, Category.NEW}), min_priority=Priority.LOW
        ),
        RoutingRule(3, "webhook:http://127.0.0.1:9/other", frozenset({Category.ALERT}), customer_id="CUST-100"),
        RoutingRule(4, "webhook:http://127.0.0.1:9/crit", frozenset({Category.ALERT}), min_priority=Priority.CRITICAL),
        RoutingRule(5, "webhook:http://127.0.0.1:9/new", frozenset({Category.NEW})),
    ]
    async with db.begin() as conn:
        for rule in rules:
            await w.add_routing_rule(conn, rule, created_by="test", now=T0)
    async with db.begin() as conn:
        written = await store(conn).announce(RECORD, priority=Priority.HIGH, now=T0)
    async with db.connect() as conn:
        rows = (await conn.execute(select(sa.OUTBOX))).all()

    assert written == 1
    (row,) = rows
    assert (row.destination, row.event_type, row.ticket_number) == (
        "webhook:http://127.0.0.1:9/soc",
        "AlertReceived",
        None,
    )
    payload: dict[str, Any] = row.payload
    assert payload["event_id"] == "alert:rocketcyber:RC-1"
    assert payload["ticket"] is None
    assert payload["alert"]["count"] == 1
    assert "raw" not in payload["alert"]


async def test_find_filters_and_pages(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        s = store(conn)
        for i, customer in enumerate(["CUST-789", None, "CUST-100", "CUST-789"]):
            await s.insert(replace(RECORD, alert_id=f"A-{i}", customer_id=customer), actor="a")
    async with db.connect() as conn:
        s = store(conn)
        newest = await s.find(AlertFilter(limit=2))
        older = await s.find(AlertFilter(limit=2, before_id=newest[-1][0]))
        triage = await s.find(AlertFilter(triage=True))
        scoped = await s.find(AlertFilter(customer_ids=["CUST-789"]))

    assert [r.alert_id for _, r in newest] == ["A-3", "A-2"]
    assert [r.alert_id for _, r in older] == ["A-1", "A-0"]
    assert [r.alert_id for _, r in triage] == ["A-1"]
    assert [r.alert_id for _, r in scoped] == ["A-3", "A-0"]


async def test_mappings_and_overrides(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        assert await sa.put_mapping(conn, provider="defender", account="t-1", customer_id="CUST-789", actor="a", now=T0)
        assert not await sa.put_mapping(
            conn, provider="defender", account="t-1", customer_id="CUST-100", actor="b", now=T0
        )
        await sa.put_mapping(conn, provider="sentinelone", account="s-1", customer_id="CUST-789", actor="a", now=T0)
        await sa.put_overrides(conn, "CUST-789", {AlertSeverity.LOW: Priority.MEDIUM}, actor="a", now=T0)
    async with db.connect() as conn:
        s = store(conn)
        mapped = await s.customer_for_account("defender", "t-1")
        unmapped = await s.customer_for_account("sentinelone", "t-1")
        overrides = await s.severity_overrides("CUST-789")
        page = await sa.list_mappings(conn, limit=1)
        rest = await sa.list_mappings(conn, after=(page[0].provider, page[0].account))
        deleted = await sa.delete_mapping(conn, "defender", "t-1")

    assert (mapped, unmapped) == ("CUST-100", None)
    assert overrides == {AlertSeverity.LOW: Priority.MEDIUM}
    assert [(r.provider, r.created_by) for r in page] == [("defender", "b")]
    assert [r.provider for r in rest] == ["sentinelone"]
    assert deleted


async def test_save_rewrites_the_record(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await store(conn).insert(RECORD, actor="a")
        await store(conn).save(replace(RECORD, status=AlertStatus.ESCALATED, ticket_number=7), actor="b")
        await conn.execute(update(sa.ALERTS).values(raw={}))
    async with db.connect() as conn:
        found = await store(conn).get("rocketcyber", "RC-1")

    assert found is not None
    assert (found.status, found.ticket_number, found.raw) == (AlertStatus.ESCALATED, 7, {})
