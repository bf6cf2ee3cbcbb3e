"""Card verbs (``adaptiveCard/action``), the ``Action.Submit`` fallback, identity, conversation references and
dedupe of retries and double clicks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from psa_chatops.cards.teams import ids
from psa_chatops.storage import tables as t
from psa_chatops.storage.teams_conversations import TeamsConversationStore
from tests.teams.conftest import CHANNEL, Teams, activity, corpus, texts_of, valid


def card_of(status: int, body: Any) -> dict[str, Any]:
    assert status == 200, body
    assert body["statusCode"] == 200, body
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    return valid(body["value"])


async def test_assign_to_me_updates_the_card_in_place(teams: Teams) -> None:
    view = await teams.open_ticket()
    card = card_of(
        *await teams.execute(ids.ASSIGN_TO_ME, {"number": view.number, "version": view.version}, user="AAD-TOM")
    )
    assert "Tom Technician" in texts_of(card)


async def test_every_verb(teams: Teams) -> None:
    view = await teams.open_ticket()
    n = view.number
    card_of(*await teams.execute(ids.SET_STATUS, {"number": n, "version": view.version, ids.STATUS: "in_progress"}))
    note = {"number": n, "version": 2, ids.NOTE_BODY: "Checked the cable.", ids.NOTE_VISIBILITY: "internal"}
    assert "Checked the cable." in texts_of(card_of(*await teams.execute(ids.ADD_NOTE, note)))
    card_of(*await teams.execute(ids.ESCALATE, {"number": n, "version": 3, ids.ESCALATION_REASON: "VIP"}))
    refreshed = card_of(*await teams.execute(ids.REFRESH, {"number": n, "version": 1}, user="AAD-DORA"))
    assert f"#{n}" in texts_of(refreshed)
    closed = card_of(*await teams.execute(ids.CLOSE, {"number": n, "version": 4, ids.RESOLUTION: "Fixed."}))
    assert "Fixed." in texts_of(closed) or "closed" in texts_of(closed).lower()


async def test_new_ticket_form_submit_opens_once(teams: Teams) -> None:
    data = {ids.TITLE: "Mail down", ids.CUSTOMER: "CUST-789", ids.PRIORITY: "high", "form": "f-1"}
    first = card_of(*await teams.execute(ids.NEW_TICKET, data))
    second = card_of(*await teams.execute(ids.NEW_TICKET, data))
    assert "Mail down" in texts_of(first)
    assert first == second
    async with teams.engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(t.table_of(t.TicketRow)))).scalar()
    assert count == 1


async def test_double_click_writes_once(teams: Teams) -> None:
    view = await teams.open_ticket()
    note = {"number": view.number, "version": view.version, ids.NOTE_BODY: "Once.", ids.NOTE_VISIBILITY: "internal"}
    await teams.execute(ids.ADD_NOTE, note)
    card = card_of(*await teams.execute(ids.ADD_NOTE, note))
    assert texts_of(card).count("Once.") == 1


async def test_message_redelivery_writes_once(teams: Teams) -> None:
    view = await teams.open_ticket()
    body = activity(teams.connector, text=f"note {view.number} Only one.")
    for _ in range(2):
        assert (await teams.post(body)).status in (200, 202)
    card = teams.connector.state.of("reply")[-1].cards()[0]
    assert texts_of(card).count("Only one.") == 1


async def test_action_submit_fallback_updates_the_card(teams: Teams) -> None:
    view = await teams.open_ticket()
    value = {"verb": ids.ASSIGN_TO_ME, "number": view.number, "version": view.version}
    body = activity(teams.connector, value=value, replyToId="1:card")
    assert (await teams.post(body)).status in (200, 202)
    update = teams.connector.state.of("update")[-1]
    assert update.activity_id == "1:card"
    assert "Alice Admin" in texts_of(valid(update.cards()[0]))


async def test_unlinked_user_gets_link_instructions(make_teams: Callable[..., Any]) -> None:
    teams = await make_teams(sandbox=True)
    # a user of the anonymous sandbox is linked on first use; outside it, the reply explains linking
    card = valid(await teams.say("mine", user="AAD-NEW"))
    assert card["type"] == "AdaptiveCard"
    async with teams.engine.connect() as conn:
        links = t.table_of(t.ActorLinkRow)
        row = (await conn.execute(select(links).where(links.c.external_id == "AAD-NEW"))).first()
    assert row is not None
    assert row.target_id == "dora"


async def test_unlinked_user_gets_the_link_instructions(teams: Teams) -> None:
    from psa_chatops.bot.teams.app import TEAMS

    host = teams.client.app[TEAMS]
    assert host is not None
    host.agent.rt.identity.sandbox_enabled = False  # as outside the sandbox: no link on first use
    card = valid(await teams.say("mine", user="AAD-NEW"))
    assert "link" in texts_of(card).lower()
    status, body = await teams.execute(ids.ASSIGN_TO_ME, {"number": 1, "version": 1}, user="AAD-NEW")
    assert status == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"


async def test_link_by_email_from_the_roster(teams: Teams) -> None:
    from psa_chatops.bot.teams.app import TEAMS

    host = teams.client.app[TEAMS]
    assert host is not None
    host.agent.rt.identity.sandbox_enabled = False
    teams.connector.state.add_member("AAD-NEW", email="Tom@msp.example")
    card = valid(await teams.say("link", user="AAD-NEW"))
    assert "Tom Technician" in texts_of(card)
    stranger = valid(await teams.say("link", user="AAD-GHOST"))
    assert stranger["type"] == "AdaptiveCard"


async def test_conversation_references_are_stored(teams: Teams) -> None:
    install = corpus("vercel_chat_replay/sample-messages_1_installationUpdate_add.json")
    install["serviceUrl"] = teams.connector.service_url
    assert (await teams.post(install)).status in (200, 202)
    added = corpus("sentry_msteams/conversationUpdate_bot_added_to_team.json")
    added["serviceUrl"] = teams.connector.service_url
    assert (await teams.post(added)).status in (200, 202)
    await teams.say("help", conversation=CHANNEL, conversation_type="channel")
    store = TeamsConversationStore(teams.engine)
    rows = {row.conversation_id: row for row in await store.every()}
    assert CHANNEL in rows
    assert rows[CHANNEL].conversation_type == "channel"
    assert rows[CHANNEL].reference["serviceUrl"] == teams.connector.service_url
    assert install["conversation"]["id"] in rows
    assert added["conversation"]["id"] in rows
