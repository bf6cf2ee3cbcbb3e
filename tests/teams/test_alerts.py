"""Alert cards in Teams: the ``alert`` command, and every ``alert.*`` verb (``adaptiveCard/action``) running its
use-case as the clicking technician, once, answered with the updated card (Adaptive Card 1.5, valid)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select

from psa_chatops.bot import keys
from psa_chatops.bot.bootstrap import actor_for, new_context
from psa_chatops.cards.teams import ids
from psa_chatops.core import commands as c
from psa_chatops.core.alerts import AlertAction, AlertSeverity, AlertSignal
from psa_chatops.handlers.alert_views import AlertIngestView
from psa_chatops.storage import tables as t
from tests.teams.conftest import Teams, texts_of, valid
from tests.teams.test_actions import card_of

OUTBOX = t.table_of(t.OutboxRow)
SIGNAL = AlertSignal(
    provider="defender",
    alert_id="da_1/x",
    severity=AlertSeverity.HIGH,
    threat_type="[click](https://evil.example) <at>all</at>",
    title="Suspicious PowerShell on WS-CLIENT-042",
    affected_asset="WS-CLIENT-042",
    customer_ref="CUST-789",
    device_id="mde-1",
)
ALERT = {"provider": "defender", "alert_id": "da_1/x"}


async def ingest(teams: Teams, signal: AlertSignal = SIGNAL) -> AlertIngestView:
    app = teams.client.app
    actor = await actor_for(teams.engine, app[keys.CLOCK], channel="teams", external_id="AAD-ALICE")
    result: AlertIngestView = await app[keys.BUS].handle(c.IngestAlert(signal=signal), new_context(actor))
    return result


async def soc_payloads(teams: Teams) -> list[dict[str, Any]]:
    async with teams.engine.connect() as conn:
        stmt = select(OUTBOX.c.payload).where(OUTBOX.c.destination.like("soc:%")).order_by(OUTBOX.c.id)
        return list((await conn.execute(stmt)).scalars())


def message_of(status: int, body: Any) -> str:
    assert status == 200, body
    assert body["type"] == "application/vnd.microsoft.activity.message", body
    return str(body["value"])


def verbs(card: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(actions: list[dict[str, Any]]) -> None:
        for action in actions:
            if action["type"] == "Action.Execute":
                found.add(action["verb"])
            elif action["type"] == "Action.ShowCard":
                walk(action["card"].get("actions", []))

    walk(card.get("actions", []))
    return found


async def test_alert_command_shows_the_card(teams: Teams) -> None:
    result = await ingest(teams)
    assert result.ticket is not None
    card = valid(await teams.say("alert defender/da_1/x", user="AAD-TOM"))
    shown = texts_of(card)
    assert "Suspicious PowerShell" in shown
    assert "[click]" not in shown
    assert "<at>" not in shown
    assert ids.ALERT_ISOLATE not in verbs(card)  # tom is no admin
    admin = valid(await teams.say(f"alert {result.ticket.number}"))
    assert ids.ALERT_ISOLATE in verbs(admin)


async def test_every_verb_updates_the_card_and_closes_back(teams: Teams) -> None:
    await ingest(teams)
    acked = card_of(*await teams.execute(ids.ALERT_ACKNOWLEDGE, ALERT, user="AAD-TOM"))
    assert ids.ALERT_ACKNOWLEDGE not in verbs(acked)
    again = card_of(*await teams.execute(ids.ALERT_ACKNOWLEDGE, ALERT, user="AAD-TOM"))  # a retry: nothing twice
    assert again == acked
    card_of(*await teams.execute(ids.ALERT_ASSIGN_TO_ME, ALERT, user="AAD-TOM"))
    escalated = card_of(*await teams.execute(ids.ALERT_ESCALATE, {**ALERT, ids.ALERT_REASON: "lateral movement"}))
    assert ids.ALERT_ESCALATE not in verbs(escalated)
    done = card_of(*await teams.execute(ids.ALERT_FALSE_POSITIVE, {**ALERT, ids.ALERT_COMMENT: "admin script"}))
    assert verbs(done) == set()
    assert "false positive" in texts_of(done)
    assert await soc_payloads(teams) == [
        {
            "action": "resolve",
            "provider": "defender",
            "alert_id": "da_1/x",
            "classification": "false_positive",
            "device": None,
        }
    ]


async def test_isolate_needs_an_admin(teams: Teams) -> None:
    await ingest(teams)
    refused = message_of(*await teams.execute(ids.ALERT_ISOLATE, ALERT, user="AAD-TOM"))
    assert "Only admins can isolate a device." in refused
    assert await soc_payloads(teams) == []
    card_of(*await teams.execute(ids.ALERT_ISOLATE, ALERT, user="AAD-ALICE"))
    assert [(p["action"], p["device"]) for p in await soc_payloads(teams)] == [("isolate", "mde-1")]


async def test_create_ticket_and_bad_data(teams: Teams) -> None:
    await ingest(teams, replace(SIGNAL, alert_id="n-1", action=AlertAction.NOTIFY_ONLY))
    card = card_of(*await teams.execute(ids.ALERT_CREATE_TICKET, {"provider": "defender", "alert_id": "n-1"}))
    assert "#" in texts_of(card)
    assert ids.ALERT_CREATE_TICKET not in verbs(card)
    status, body = await teams.execute(ids.ALERT_ACKNOWLEDGE, {"provider": "defender"})
    assert status == 200
    assert body["statusCode"] == 400
    unknown = message_of(*await teams.execute(ids.ALERT_ACKNOWLEDGE, {"provider": "defender", "alert_id": "zzz"}))
    assert "does not exist" in unknown
