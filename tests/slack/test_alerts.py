"""Alert cards in Slack: ``/psa alert``, and every button running its use-case as the clicking technician, once,
with the card replaced in place (Block Kit within Slack's limits)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from psa_chatops.bot import keys
from psa_chatops.bot.bootstrap import actor_for, new_context
from psa_chatops.cards.slack import ids
from psa_chatops.core import commands as c
from psa_chatops.core.alerts import AlertAction, AlertSeverity, AlertSignal
from psa_chatops.handlers.alert_queries import show_alert
from psa_chatops.handlers.alert_views import AlertIngestView, AlertView
from psa_chatops.storage import tables as t
from tests.slack.conftest import Slack, block_actions, limits
from tests.slack.test_commands import current

OUTBOX = t.table_of(t.OutboxRow)
EVENTS = t.table_of(t.TicketEventRow)
SIGNAL = AlertSignal(
    provider="sentinelone",
    alert_id="77",
    severity=AlertSeverity.CRITICAL,
    threat_type="Ransomware <!channel>",
    title="Ransomware on WS-CLIENT-042",
    affected_asset="WS-CLIENT-042",
    customer_ref="CUST-789",
    device_id="agent-1",
)


async def ingest(slack: Slack, signal: AlertSignal = SIGNAL) -> AlertIngestView:
    app = slack.client.app
    actor = await actor_for(slack.engine, app[keys.CLOCK], channel="slack", external_id="UALICE")
    result: AlertIngestView = await app[keys.BUS].handle(c.IngestAlert(signal=signal), new_context(actor))
    return result


async def alert_now(slack: Slack, alert_id: str = "77") -> AlertView:
    app = slack.client.app
    actor = await actor_for(slack.engine, app[keys.CLOCK], channel="slack", external_id="UALICE")
    view: AlertView = await app[keys.BUS].read(lambda uow: show_alert("sentinelone", alert_id, uow=uow),
                                                new_context(actor))  # fmt: skip
    return view


async def click(slack: Slack, action_id: str, *, user: str = "UTOM", alert_id: str = "77") -> None:
    payload = block_actions(slack.fake, action_id=action_id, value=f"sentinelone/{alert_id}", user=user)
    response = await slack.interaction(payload)
    assert response.status == 200
    await slack.settle()


def replaced(slack: Slack) -> list[dict[str, Any]]:
    return [c.args for c in slack.calls("response_url") if c.args.get("replace_original") is True]


def notes(slack: Slack) -> list[str]:
    return [json.dumps(c.args) for c in slack.calls("response_url") if c.args.get("replace_original") is False]


async def soc_payloads(slack: Slack) -> list[dict[str, Any]]:
    async with slack.engine.connect() as conn:
        stmt = select(OUTBOX.c.payload).where(OUTBOX.c.destination.like("soc:%")).order_by(OUTBOX.c.id)
        return list((await conn.execute(stmt)).scalars())


async def events_of(slack: Slack, number: int, type_name: str) -> int:
    async with slack.engine.connect() as conn:
        stmt = select(EVENTS.c.type).where(EVENTS.c.aggregate_id == number)
        return sum(1 for found in (await conn.execute(stmt)).scalars() if found == type_name)


async def test_psa_alert_shows_the_card_by_id_and_by_ticket(slack: Slack) -> None:
    result = await ingest(slack)
    assert result.ticket is not None
    by_id = await slack.command("alert sentinelone/77")
    limits(by_id)
    text = json.dumps(by_id)
    assert "Ransomware on WS-CLIENT-042" in text
    assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in text
    assert by_id["response_type"] == "ephemeral"
    actions = [e["action_id"] for b in by_id["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids.ALERT_ISOLATE in actions  # alice is an admin
    by_ticket = await slack.command(f"alert {result.ticket.number}")
    assert by_ticket["blocks"] == by_id["blocks"]
    missing = await slack.command("alert sentinelone/nope")
    assert "does not exist" in json.dumps(missing)


async def test_acknowledge_replaces_the_card_and_a_double_click_acts_once(slack: Slack) -> None:
    result = await ingest(slack)
    assert result.ticket is not None
    await click(slack, ids.ALERT_ACKNOWLEDGE)
    await click(slack, ids.ALERT_ACKNOWLEDGE)
    assert (await alert_now(slack)).status == "acknowledged"
    assert await events_of(slack, result.ticket.number, "AlertAcknowledged") == 1
    first, second = replaced(slack)
    limits(first)
    assert ids.ALERT_ACKNOWLEDGE not in json.dumps(first)
    assert first["blocks"] == second["blocks"]
    assert len(notes(slack)) == 1  # the second click was on an out-of-date card: told, nothing done
    assert (await current(slack, result.ticket.number)).status == "open"


async def test_assign_to_me_takes_the_alerts_ticket(slack: Slack) -> None:
    result = await ingest(slack)
    assert result.ticket is not None
    await click(slack, ids.ALERT_ASSIGN_TO_ME, user="UTOM")
    assert (await current(slack, result.ticket.number)).assignee_id == "tom"
    (card,) = replaced(slack)
    limits(card)


async def test_escalate_and_false_positive_close_back_from_slack(slack: Slack) -> None:
    result = await ingest(slack)
    assert result.ticket is not None
    await click(slack, ids.ALERT_ESCALATE)
    assert (await alert_now(slack)).status == "escalated"
    await click(slack, ids.ALERT_FALSE_POSITIVE)
    view = await alert_now(slack)
    assert (view.status, view.classification) == ("resolved", "false_positive")
    assert (await current(slack, result.ticket.number)).status == "closed"
    assert await soc_payloads(slack) == [
        {
            "action": "resolve",
            "provider": "sentinelone",
            "alert_id": "77",
            "classification": "false_positive",
            "device": None,
        }
    ]
    last = replaced(slack)[-1]
    limits(last)
    assert not [b for b in last["blocks"] if b["type"] == "actions"]


async def test_isolate_is_refused_to_technicians_and_done_for_admins(slack: Slack) -> None:
    await ingest(slack)
    await click(slack, ids.ALERT_ISOLATE, user="UTOM")
    assert "Only admins can isolate a device." in notes(slack)[0]
    assert await soc_payloads(slack) == []
    await click(slack, ids.ALERT_ISOLATE, user="UALICE")
    assert [p["action"] for p in await soc_payloads(slack)] == ["isolate"]
    assert (await soc_payloads(slack))[0]["device"] == "agent-1"


async def test_create_ticket_for_a_notify_only_alert(slack: Slack) -> None:
    result = await ingest(slack, replace(SIGNAL, alert_id="88", action=AlertAction.NOTIFY_ONLY))
    assert result.ticket is None
    await click(slack, ids.ALERT_CREATE_TICKET, alert_id="88")
    view = await alert_now(slack, "88")
    assert view.ticket_number is not None
    (card,) = replaced(slack)
    limits(card)
    assert f"/tickets/{view.ticket_number}|#{view.ticket_number}>" in json.dumps(card)


async def test_unlinked_users_and_foreign_values(slack: Slack) -> None:
    await ingest(slack)
    await click(slack, ids.ALERT_ACKNOWLEDGE, user="UNEW")
    assert "/psa link" in json.dumps(slack.calls("response_url")[0].args)
    payload = block_actions(slack.fake, action_id=ids.ALERT_ACKNOWLEDGE, value="no-slash", user="UTOM")
    assert (await slack.interaction(payload)).status == 200
    await slack.settle()
    await click(slack, ids.ALERT_OPEN_TICKET)
    assert (await alert_now(slack)).status == "new"
