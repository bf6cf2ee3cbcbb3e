"""``DELETE /api/v1/maintenance-windows/{id}``: the window goes, and its Microsoft 365 calendar entry with it (the
outbox row commits with the delete; the real dispatcher deletes the event in a loopback Microsoft Graph)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from sqlalchemy import select

from psa_chatops.bot import keys
from psa_chatops.bot.lifecycle import build_dispatcher
from psa_chatops.bot.worker import Dispatcher
from psa_chatops.storage import tables as t
from psa_chatops.storage.calendar_sync import CalendarEventStore, window_source
from psa_chatops.storage.outbox import OutboxStore
from tests.bot.api.conftest import Api, MakeApi
from tests.conftest import FrozenClock
from tests.fakes.graph import CLIENT_ID, CLIENT_SECRET, TENANT, FakeGraph, start_fake_graph, tls_files

MAILBOX = "wartung@msp.example"
WINDOW = {
    "id": "MW-7",
    "customer_id": "CUST-789",
    "title": "Firmware-Update Switches",
    "starts_at": "2026-12-05T22:00:00+01:00",
    "ends_at": "2026-12-06T02:00:00+01:00",
    "asset_ids": ["WS-CLIENT-042"],
}
OUTBOX = t.table_of(t.OutboxRow)


@pytest.fixture
async def graph(aiohttp_server: AiohttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGraph:
    fake = await start_fake_graph(aiohttp_server, tls_files(tmp_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_file))  # msal's requests session trusts the fake
    return fake


@pytest.fixture
async def session(graph: FakeGraph) -> AsyncIterator[aiohttp.ClientSession]:
    context: ssl.SSLContext = graph.client_ssl
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as s:
        yield s


async def graph_api(make_api: MakeApi, graph: FakeGraph) -> Api:
    return await make_api(
        sandbox=False,
        graph_tenant_id=TENANT,
        graph_client_id=CLIENT_ID,
        graph_client_secret=CLIENT_SECRET,
        graph_calendar_user=MAILBOX,
        graph_api_url=graph.api_url,
        graph_authority_url=graph.authority_url,
    )


def dispatcher_of(api: Api, session: aiohttp.ClientSession, clock: FrozenClock) -> Dispatcher:
    app, engine = api.app, api.app[keys.ENGINE]
    return build_dispatcher(app[keys.SETTINGS], OutboxStore(engine), session, clock, engine=engine)


async def outbox_rows(api: Api) -> list[Any]:
    async with api.app[keys.ENGINE].connect() as conn:
        return list((await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all())


async def test_delete_removes_the_window_and_its_calendar_entry(
    make_api: MakeApi, graph: FakeGraph, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    api = await graph_api(make_api, graph)
    auth = await api.auth("directory:read", "directory:write")
    dispatcher = dispatcher_of(api, session, clock)
    created = await api.client.post("/api/v1/maintenance-windows", json=WINDOW, headers=auth)
    assert created.status == 201, await created.text()
    assert await dispatcher.drain() == 1
    (event_id,) = graph.state.events

    deleted = await api.client.delete("/api/v1/maintenance-windows/MW-7", headers=auth)
    assert deleted.status == 204, await deleted.text()
    assert (await api.client.get("/api/v1/maintenance-windows/MW-7", headers=auth)).status == 404
    rows = await outbox_rows(api)
    assert [(r.event_type, r.payload["action"], r.status) for r in rows] == [
        ("MaintenanceWindowChanged", "upsert", "delivered"),
        ("MaintenanceWindowChanged", "delete", "pending"),
    ]
    assert await dispatcher.drain() == 1
    (call,) = graph.state.of("delete")
    assert call.path == f"/v1.0/users/{MAILBOX}/events/{event_id}"
    assert graph.state.events == {}
    synced = await CalendarEventStore(api.app[keys.ENGINE]).get(window_source("MW-7"), MAILBOX)
    assert synced is not None
    assert synced.deleted

    again = await api.client.delete("/api/v1/maintenance-windows/MW-7", headers=auth)
    assert again.status == 404
    assert (await again.json())["type"].endswith("not-found")
    assert len(await outbox_rows(api)) == 2  # nothing queued for a window that is not there


async def test_delete_needs_the_write_scope_and_sees_only_the_keys_customers(make_api: MakeApi) -> None:
    api = await make_api()
    writer = await api.auth("directory:read", "directory:write")
    assert (await api.client.post("/api/v1/maintenance-windows", json=WINDOW, headers=writer)).status == 201
    reader = await api.auth("directory:read")
    assert (await api.client.delete("/api/v1/maintenance-windows/MW-7", headers=reader)).status == 403
    other = await api.auth("directory:read", "directory:write", customers=["CUST-100"])
    assert (await api.client.delete("/api/v1/maintenance-windows/MW-7", headers=other)).status == 404
    assert (await api.client.get("/api/v1/maintenance-windows/MW-7", headers=writer)).status == 200
    assert len(await outbox_rows(api)) == 0  # no calendar configured: no sync rows at all
    assert (await api.client.delete("/api/v1/maintenance-windows/MW-7", headers=writer)).status == 204
    assert (await api.client.get("/api/v1/maintenance-windows/MW-7", headers=writer)).status == 404
