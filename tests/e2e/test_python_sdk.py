"""The Python client generated from the OpenAPI document (``scripts/sdk python``) works against the running service:
typed models in, typed models out, problems as ``Problem``. The sync API runs in a worker thread, the async API on
the loop (its httpx client, whose SSL context loads certificates, is built in a thread too)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, Service, run_tool
from tests.fixtures_directory import ACME, TOM, WS42

pytestmark = pytest.mark.slow
PACKAGE = "psa_chatops_client"
API = ("create_ticket", "get_ticket", "list_tickets", "add_ticket_note", "update_ticket")
MODELS = ("TicketCreate", "NoteCreate", "TicketUpdate", "Ticket", "TicketPage", "Problem", "Priority", "Status")


@pytest.fixture
async def sdk(build_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimpleNamespace]:
    (await run_tool(ROOT / "scripts" / "sdk", "python", env={"BUILD_DIR": str(build_dir)})).check()
    monkeypatch.syspath_prepend(str(build_dir / "sdk" / "python"))

    def load() -> SimpleNamespace:
        importlib.invalidate_caches()
        client: ModuleType = importlib.import_module(PACKAGE)
        models = importlib.import_module(f"{PACKAGE}.models")
        api = {name: importlib.import_module(f"{PACKAGE}.api.tickets.{name}") for name in API}
        types = importlib.import_module(f"{PACKAGE}.types")
        return SimpleNamespace(
            AuthenticatedClient=client.AuthenticatedClient,
            UNSET=types.UNSET,
            **api,
            **{name: getattr(models, name) for name in MODELS},
            Visibility=models.Visibility,
            ProblemType=models.ProblemType,
        )

    yield await asyncio.to_thread(load)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def _conversation(sdk: Any, base_url: str, key: str) -> dict[str, Any]:
    """Create, read, list, note and change a ticket with the sync API (blocking: runs in a worker thread)."""
    with sdk.AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True) as client:
        created = sdk.create_ticket.sync_detailed(
            client=client,
            body=sdk.TicketCreate(
                title="SDK: VPN drops every 10 minutes",
                customer_id=ACME.id,
                priority=sdk.Priority.HIGH,
                asset_id=WS42.id,
                tags=["sdk"],
            ),
        )
        ticket = created.parsed
        got = sdk.get_ticket.sync(ticket.number, client=client)
        page = sdk.list_tickets.sync(client=client, customer_id=ACME.id, limit=10)
        noted = sdk.add_ticket_note.sync(
            ticket.number, client=client, body=sdk.NoteCreate(body="Replaced the router's firmware")
        )
        changed = sdk.update_ticket.sync(
            ticket.number,
            client=client,
            body=sdk.TicketUpdate(status=sdk.Status.IN_PROGRESS, assignee_id=TOM.id),
        )
        missing = sdk.get_ticket.sync_detailed(999_999, client=client)
    return {
        "created": created,
        "ticket": ticket,
        "got": got,
        "page": page,
        "noted": noted,
        "changed": changed,
        "missing": missing,
    }


async def test_generated_python_client_against_the_running_service(sdk: Any, service: Service) -> None:
    base_url = f"{service.url}/api/v1"
    result = await asyncio.to_thread(_conversation, sdk, base_url, service.key)

    created, ticket = result["created"], result["ticket"]
    assert created.status_code == 201
    assert created.headers["Location"] == f"/api/v1/tickets/{ticket.number}"
    assert isinstance(ticket, sdk.Ticket)
    assert isinstance(ticket.number, int)
    assert ticket.title == "SDK: VPN drops every 10 minutes"
    assert ticket.priority is sdk.Priority.HIGH
    assert ticket.status is sdk.Status.NEW
    assert ticket.customer_name == ACME.name
    assert ticket.asset_id == WS42.id
    assert ticket.tags == ["sdk"]
    assert isinstance(ticket.created_at, datetime)
    assert ticket.created_at.tzinfo is not None

    got = result["got"]
    assert isinstance(got, sdk.Ticket)
    assert (got.number, got.title, got.version) == (ticket.number, ticket.title, ticket.version)

    page = result["page"]
    assert isinstance(page, sdk.TicketPage)
    assert ticket.number in [item.number for item in page.items]
    assert page.total >= 1

    noted = result["noted"]
    assert isinstance(noted, sdk.Ticket)
    note = next(n for n in noted.recent_notes if n.body == "Replaced the router's firmware")
    assert note.visibility is sdk.Visibility.INTERNAL
    assert isinstance(note.id, int)
    assert noted.version > ticket.version

    changed = result["changed"]
    assert isinstance(changed, sdk.Ticket)
    assert changed.status is sdk.Status.IN_PROGRESS
    assert changed.assignee_id == TOM.id

    missing = result["missing"]
    assert missing.status_code == 404
    assert isinstance(missing.parsed, sdk.Problem)
    assert missing.parsed.type_ is sdk.ProblemType.NOT_FOUND

    # the async API, on the loop
    client = sdk.AuthenticatedClient(base_url=base_url, token=service.key)
    await asyncio.to_thread(client.get_async_httpx_client)  # builds the SSL context off the loop
    async with client:
        again = await sdk.get_ticket.asyncio(ticket.number, client=client)
    assert isinstance(again, sdk.Ticket)
    assert again.status is sdk.Status.IN_PROGRESS
    assert any(n.body == "Replaced the router's firmware" for n in again.recent_notes)
