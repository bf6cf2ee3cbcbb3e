"""Chat commands through the real app: each command's card, mentions stripped, errors as cards."""

from __future__ import annotations

from tests.teams.conftest import CHANNEL, Teams, texts_of, valid


async def test_help_and_unknown_text(teams: Teams) -> None:
    card = valid(await teams.say("help"))
    assert "ticket" in texts_of(card)
    unknown = valid(await teams.say("tickte 12"))
    assert "ticket" in texts_of(unknown)
    assert "tickte" in texts_of(unknown)


async def test_ticket_card_in_a_channel_mention(teams: Teams) -> None:
    view = await teams.open_ticket()
    card = valid(
        await teams.say(
            f"<at>PSA</at> ticket {view.number}\n",
            conversation=CHANNEL,
            conversation_type="channel",
        )
    )
    assert f"#{view.number}" in texts_of(card)
    reply = teams.connector.state.of("reply")[-1]
    assert reply.conversation_id == CHANNEL


async def test_lists(teams: Teams) -> None:
    view = await teams.open_ticket("VPN down")
    for text in ("mine", "queue", "queue CUST-789 new", "search VPN", "sla"):
        card = valid(await teams.say(text))
        assert card["type"] == "AdaptiveCard", text
    assert "VPN down" in texts_of(await teams.say("search VPN"))
    assert str(view.number) in texts_of(await teams.say("queue"))


async def test_note_and_close_write_once_per_activity(teams: Teams) -> None:
    view = await teams.open_ticket()
    card = valid(await teams.say(f"note {view.number} Toner ordered."))
    assert "Toner ordered." in texts_of(card)
    closed = valid(await teams.say(f"close {view.number} Replaced the toner."))
    assert "Replaced the toner." in texts_of(closed) or "closed" in texts_of(closed).lower()


async def test_new_opens_the_form(teams: Teams) -> None:
    card = valid(await teams.say("new VPN down"))
    assert any(i.get("id") == "title" and i.get("value") == "VPN down" for i in card["body"])


async def test_bad_arguments_give_an_error_card(teams: Teams) -> None:
    card = valid(await teams.say("ticket abc"))
    assert "abc" in texts_of(card)
    assert "/psa" not in texts_of(card)


async def test_unknown_ticket_is_an_error_card(teams: Teams) -> None:
    card = valid(await teams.say("ticket 99999"))
    assert "99999" in texts_of(card)
