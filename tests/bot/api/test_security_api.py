"""``/api/v1/security``: the seed's alert document (201 new ticket, 200 duplicate), precise 422s, ``ignore``, a storm
of concurrent copies, vendor payloads from the shared corpus, reads, vendor account and severity mappings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from psa_chatops.bot import keys
from psa_chatops.storage import tables as t
from tests.bot.api.conftest import Api
from tests.conftest import SHARED_CORPORA

ALERTS = "/api/v1/security/alerts"
SEED_DOCUMENT = {
    "provider": "RocketCyber",
    "alert_id": "RC-2025-1234",
    "severity": "high",
    "threat_type": "ransomware",
    "affected_asset": "WS-CLIENT-042",
    "customer_id": "CUST-789",
    "action": "create_ticket",
}
S1_THREAT = SHARED_CORPORA / "security" / "sentinelone" / "threat_v2.1_trojan_mitigated.json"


async def writer(api: Api) -> dict[str, str]:
    return await api.auth("alerts:write", "tickets:read")


async def rows(api: Api, model: Any) -> int:
    async with api.app[keys.ENGINE].connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(t.table_of(model)))).scalar_one())


async def test_the_seed_document_opens_a_ticket_and_a_repeat_names_it(api: Api) -> None:
    headers = await writer(api)

    first = await api.client.post(ALERTS, json=SEED_DOCUMENT, headers=headers)
    body = await first.json()
    again = await api.client.post(ALERTS, json=SEED_DOCUMENT, headers=headers)
    repeat = await again.json()

    assert first.status == 201, body
    assert body["outcome"] == "new_ticket"
    assert isinstance(body["ticket_number"], int)
    assert body["alert"]["provider"] == "rocketcyber"
    assert body["alert"]["asset_id"] == "WS-CLIENT-042"
    assert body["ticket"]["priority"] == "high"
    assert body["ticket"]["source"] == "alert"
    assert first.headers["Location"] == "/api/v1/security/alerts/rocketcyber/RC-2025-1234"
    assert again.status == 200
    assert (repeat["outcome"], repeat["ticket_number"], repeat["alert"]["count"]) == (
        "duplicate",
        body["ticket_number"],
        2,
    )
    assert repeat["ticket"]["number"] == body["ticket_number"]  # "200 with the existing ticket"
    fetched = await api.client.get(first.headers["Location"], headers=await api.auth("alerts:read"))
    assert fetched.status == 200
    assert (await fetched.json())["count"] == 2


@pytest.mark.parametrize(
    ("change", "loc", "kind"),
    [
        ({"alert_id": None}, "body.alert_id", "missing"),
        ({"alert_id": 42}, "body.alert_id", "string_type"),
        ({"severity": "severe"}, "body.severity", "enum"),
        ({"action": "page_everyone"}, "body.action", "enum"),
        ({"provider": "Rocket/Cyber"}, "body.provider", "string_pattern_mismatch"),
        ({"threat_type": "   "}, "body.threat_type", "value_error"),
        ({"hostname": "WS-1"}, "body.hostname", "extra_forbidden"),
        ({"affected_asset": "x" * 256}, "body.affected_asset", "string_too_long"),
    ],
)
async def test_invalid_documents_name_the_field(api: Api, change: dict[str, Any], loc: str, kind: str) -> None:
    document = {k: v for k, v in {**SEED_DOCUMENT, **change}.items() if v is not None}

    response = await api.client.post(ALERTS, json=document, headers=await writer(api))
    problem = await response.json()

    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert problem["type"].endswith("/validation-error")
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(loc, kind)]
    assert await rows(api, t.SecurityAlertRow) == 0


async def test_severity_and_action_are_read_in_any_case(api: Api) -> None:
    document = {**SEED_DOCUMENT, "severity": "CRITICAL", "action": "Notify_Only"}

    response = await api.client.post(ALERTS, json=document, headers=await writer(api))

    body = await response.json()
    assert response.status == 200
    assert body["outcome"] == "notify_only"
    assert (body["alert"]["severity"], body["alert"]["priority"], body["ticket_number"]) == (
        "critical",
        "critical",
        None,
    )


async def test_malformed_json_and_scopes(api: Api) -> None:
    headers = {**await writer(api), "Content-Type": "application/json"}
    broken = await api.client.post(ALERTS, data=b'{"provider": ', headers=headers)
    reader = await api.client.post(ALERTS, json=SEED_DOCUMENT, headers=await api.auth("alerts:read"))
    anonymous = await api.client.get(ALERTS)

    assert broken.status == 400
    assert (await broken.json())["type"].endswith("/malformed-json")
    assert reader.status == 403
    assert (await reader.json())["type"].endswith("/insufficient-scope")
    assert anonymous.status == 401


async def test_ignore_is_recorded_and_sends_nothing(api: Api) -> None:
    response = await api.client.post(ALERTS, json={**SEED_DOCUMENT, "action": "ignore"}, headers=await writer(api))

    body = await response.json()
    assert response.status == 200
    assert body["outcome"] == "ignored"
    assert body["alert"]["status"] == "ignored"
    assert await rows(api, t.SecurityAlertRow) == 1
    assert await rows(api, t.OutboxRow) == 0
    assert await rows(api, t.TicketRow) == 0


async def test_an_unknown_customer_lands_in_triage(api: Api) -> None:
    document = {**SEED_DOCUMENT, "customer_id": "CUST-NOPE"}

    response = await api.client.post(ALERTS, json=document, headers=await writer(api))
    listed = await api.client.get(f"{ALERTS}?triage=true", headers=await api.auth("alerts:read"))

    body = await response.json()
    assert response.status == 201
    assert body["outcome"] == "triage"
    assert body["ticket"]["customer_id"] == "TRIAGE"
    assert [a["alert_id"] for a in (await listed.json())["items"]] == ["RC-2025-1234"]


async def test_a_storm_of_200_copies_makes_one_ticket(api: Api) -> None:
    headers = await writer(api)

    responses = await asyncio.gather(
        *(api.client.post(ALERTS, json=SEED_DOCUMENT, headers=headers) for _ in range(200))
    )

    assert sorted(r.status for r in responses) == [200] * 199 + [201]
    numbers = {(await r.json())["ticket_number"] for r in responses}
    assert len(numbers) == 1
    assert await rows(api, t.TicketRow) == 1
    alert = await api.client.get(f"{ALERTS}/rocketcyber/RC-2025-1234", headers=await api.auth("alerts:read"))
    assert (await alert.json())["count"] == 200


async def test_lists_page_and_filter(api: Api) -> None:
    headers = await writer(api)
    for i in range(3):
        await api.client.post(ALERTS, json={**SEED_DOCUMENT, "alert_id": f"A-{i}", "action": "ignore"}, headers=headers)
    reader = await api.auth("alerts:read")

    first = await (await api.client.get(f"{ALERTS}?limit=2", headers=reader)).json()
    second = await (await api.client.get(f"{ALERTS}?limit=2&cursor={first['next_cursor']}", headers=reader)).json()
    filtered = await api.client.get(f"{ALERTS}?status=new", headers=reader)
    bad = await api.client.get(f"{ALERTS}?cursor=nonsense", headers=reader)
    missing = await api.client.get(f"{ALERTS}/rocketcyber/NOPE", headers=reader)

    assert [a["alert_id"] for a in first["items"]] == ["A-2", "A-1"]
    assert [a["alert_id"] for a in second["items"]] == ["A-0"]
    assert second["next_cursor"] is None
    assert (await filtered.json())["items"] == []
    assert bad.status == 400
    assert missing.status == 404


@pytest.mark.skipif(not S1_THREAT.exists(), reason="shared corpora not present (../shared/corpora)")
async def test_a_vendor_payload_is_normalised_and_mapped(api: Api) -> None:
    admin = await api.auth("admin")
    payload = json.loads(S1_THREAT.read_text())
    site = payload["agentDetectionInfo"]["siteId"]

    mapped = await api.client.put(
        f"/api/v1/security/mappings/sentinelone/{site}", json={"customer_id": "CUST-100"}, headers=admin
    )
    posted = await api.client.post("/api/v1/security/providers/sentinelone", json=payload, headers=await writer(api))
    again = await api.client.post("/api/v1/security/providers/sentinelone", json=payload, headers=await writer(api))

    assert mapped.status == 201
    body = await posted.json()
    assert posted.status == 201
    assert body["created"] == 1
    (receipt,) = body["items"]
    assert receipt["alert"]["customer_id"] == "CUST-100"
    assert receipt["alert"]["vendor_account"] == site
    assert receipt["ticket"]["customer_id"] == "CUST-100"
    assert again.status == 200
    assert (await again.json())["items"][0]["outcome"] == "duplicate"


async def test_a_vendor_payload_that_does_not_fit_is_a_422(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/security/providers/sentinelone", json={"id": 5}, headers=await writer(api)
    )
    unknown = await api.client.post("/api/v1/security/providers/acme-soc", json={}, headers=await writer(api))

    problem = await response.json()
    assert response.status == 422
    assert problem["errors"][0]["pointer"] == ""
    assert "SentinelOne" in problem["detail"]
    assert unknown.status == 400
    assert (await unknown.json())["errors"][0]["loc"] == "query.provider"


async def test_mappings_are_admin_records(api: Api) -> None:
    admin = await api.auth("admin")
    path = "/api/v1/security/mappings/defender/tenant-1"

    created = await api.client.put(path, json={"customer_id": "CUST-789"}, headers=admin)
    moved = await api.client.put(path, json={"customer_id": "CUST-100"}, headers=admin)
    unknown = await api.client.put(path, json={"customer_id": "CUST-NOPE"}, headers=admin)
    listed = await api.client.get("/api/v1/security/mappings?provider=defender", headers=admin)
    forbidden = await api.client.get(path, headers=await writer(api))
    deleted = await api.client.delete(path, headers=admin)
    gone = await api.client.get(path, headers=admin)

    assert (created.status, moved.status) == (201, 200)
    assert (await moved.json())["customer_id"] == "CUST-100"
    assert unknown.status == 422
    assert (await unknown.json())["errors"][0]["loc"] == "body.customer_id"
    assert [m["account"] for m in (await listed.json())["items"]] == ["tenant-1"]
    assert forbidden.status == 403
    assert (deleted.status, gone.status) == (204, 404)


async def test_severity_mapping_per_customer(api: Api) -> None:
    admin = await api.auth("admin")
    path = "/api/v1/security/severity-mappings/CUST-789"

    default = await (await api.client.get(path, headers=admin)).json()
    changed = await api.client.put(path, json={"informational": "medium", "high": "critical"}, headers=admin)
    bad = await api.client.put(path, json={"high": "urgent"}, headers=admin)
    posted = await api.client.post(ALERTS, json=SEED_DOCUMENT, headers=await writer(api))

    assert default["mapping"] == {
        "critical": "critical",
        "high": "high",
        "medium": "medium",
        "low": "low",
        "informational": "low",
    }
    assert changed.status == 200
    assert (await changed.json())["mapping"]["high"] == "critical"
    assert bad.status == 422
    assert (await bad.json())["errors"][0]["loc"] == "body.high"
    assert (await posted.json())["ticket"]["priority"] == "critical"
