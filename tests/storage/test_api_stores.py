"""The API's stores on SQLite and PostgreSQL: API keys (hash only, constant-time check, revoke), idempotency
reservations (one winner under concurrency, replay, mismatch, take-over of a dead reservation), the audit log."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.storage.api_keys import ApiKeyStore, split_key, validate_networks
from psa_chatops.storage.audit_log import AuditEntry, AuditLog
from psa_chatops.storage.idempotency import IdempotencyStore
from tests.conftest import FrozenClock


async def test_a_key_is_stored_as_a_hash_and_checked_whole(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = ApiKeyStore(engine)
    new = await store.create(name="ci", scopes=["tickets:read"], created_by="technician:alice", now=clock.now())
    async with engine.connect() as conn:
        stored = " ".join(str(v) for v in (await conn.execute(text("SELECT * FROM api_keys"))).one())
    assert new.secret not in stored
    assert new.secret.split("_", 2)[2] not in stored
    found = await store.authenticate(new.secret)
    assert found is not None
    assert found.scopes == ("tickets:read",)
    assert await store.authenticate(new.secret[:-1] + ("A" if new.secret[-1] != "A" else "B")) is None
    assert await store.authenticate("psa_short") is None
    assert await store.revoke(found.id, now=clock.now())
    revoked = await store.authenticate(new.secret)
    assert revoked is not None
    assert not revoked.active(clock.now())


async def test_key_expiry_and_networks(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = ApiKeyStore(engine)
    new = await store.create(
        name="x",
        scopes=["admin"],
        created_by="t",
        now=clock.now(),
        allowed_networks=["192.168.1.0/24"],
        expires_at=clock.now() + timedelta(days=1),
    )
    record = new.record
    assert record.admits("192.168.1.7")
    assert not record.admits("10.1.1.1")
    assert not record.admits(None)
    assert record.active(clock.now())
    assert not record.active(clock.now() + timedelta(days=2))
    with pytest.raises(ValueError, match="not an IP network"):
        validate_networks(["300.1.1.1/8"])
    assert split_key("psa_abcdefghij_" + "k" * 43) is not None


async def test_one_reservation_wins_under_concurrency(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = IdempotencyStore(engine)
    outcomes = await asyncio.gather(*(store.reserve("apikey:a", "k1", "h", now=clock.now()) for _ in range(6)))
    assert sorted(o.outcome for o in outcomes).count("reserved") == 1
    await store.complete("apikey:a", "k1", {"status": 201, "headers": [], "body": "{}"})
    replay = await store.reserve("apikey:a", "k1", "h", now=clock.now())
    assert (replay.outcome, replay.response) == ("replay", {"status": 201, "headers": [], "body": "{}"})
    assert (await store.reserve("apikey:a", "k1", "other", now=clock.now())).outcome == "mismatch"
    assert (await store.reserve("apikey:b", "k1", "h", now=clock.now())).outcome == "reserved"  # per client


async def test_a_dead_reservation_is_taken_over(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = IdempotencyStore(engine, stale_after=timedelta(seconds=30))
    assert (await store.reserve("s", "k", "h", now=clock.now())).outcome == "reserved"
    assert (await store.reserve("s", "k", "h", now=clock.now() + timedelta(seconds=5))).outcome == "in_progress"
    assert (await store.reserve("s", "k", "h", now=clock.now() + timedelta(seconds=31))).outcome == "reserved"
    await store.release("s", "k")
    assert (await store.reserve("s", "k", "h", now=clock.now())).outcome == "reserved"
    assert await store.purge(before=clock.now() + timedelta(days=2)) == 1


async def test_audit_entries_round_trip(engine: AsyncEngine, clock: FrozenClock) -> None:
    log = AuditLog(engine)
    for status in (201, 403):
        await log.record(
            AuditEntry(
                clock.now(), "apikey:x", "POST", "/api/v1/tickets", "/api/v1/tickets", status, "rid", None, "::1"
            )
        )
    entries = await log.entries(actor="apikey:x")
    assert [e.status for e in entries] == [403, 201]
    assert entries[0].occurred_at == clock.now()
