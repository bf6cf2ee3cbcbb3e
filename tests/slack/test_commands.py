"""``/psa`` through the real service: the ack carries the answer (cards, lists, errors) from the database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from psa_chatops.bot import keys
from psa_chatops.bot.bootstrap import actor_for, build_bus, new_context
from psa_chatops.core import commands as c
from psa_chatops.handlers import queries
from psa_chatops.storage.engine import create_engine
from tests.conftest import FrozenClock
from tests.slack.conftest import Slack, eventually, limits


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


async def current(slack: Slack, number: int) -> Any:
    app = slack.client.app
    actor = await actor_for(slack.engine, app[keys.CLOCK], channel="slack", external_id="UALICE")
    now = app[keys.CLOCK].now()
    return await app[keys.BUS].read(lambda uow: queries.show_ticket(number, uow=uow, now=now), new_context(actor))


async def test_help_lists_the_commands(slack: Slack) -> None:
    answer = await slack.command("help")
    limits(answer)
    assert answer["response_type"] == "ephemeral"
    for name in ("ticket", "mine", "queue", "search", "sla", "assign", "note", "close", "link", "subscribe"):
        assert f"/psa {name}" in text_of(answer)


async def test_unknown_command_suggests_the_closest(slack: Slack) -> None:
    answer = await slack.command("tikcet 5")
    limits(answer)
    assert "tikcet" in text_of(answer)
    assert "/psa ticket" in text_of(answer)


async def test_ticket_card_is_ephemeral_with_share_button(slack: Slack) -> None:
    view = await slack.open_ticket()
    answer = await slack.command(f"ticket {view.number}")
    limits(answer)
    assert answer["response_type"] == "ephemeral"
    assert f"#{view.number}" in answer["text"]
    assert "ticket.share" in text_of(answer)
    assert slack.calls("response_url") == []  # answered in the ack itself


async def test_unknown_ticket_is_a_polite_error(slack: Slack) -> None:
    answer = await slack.command("ticket 999999")
    limits(answer)
    assert "999999" in answer["text"]


async def test_mine_queue_search_and_sla_list_tickets(slack: Slack) -> None:
    view = await slack.open_ticket("VPN down at Müller")
    await slack.command(f"assign {view.number} <@UALICE|alice>")
    for text in ("mine", "queue", "queue CUST-789 new", "search VPN", "sla"):
        answer = await slack.command(text)
        limits(answer)
        assert answer["response_type"] == "ephemeral", text
    assert "VPN down" in text_of(await slack.command("mine"))
    assert "VPN down" in text_of(await slack.command("search VPN"))
    assert "VPN down" in text_of(await slack.command("queue Müller"))


async def test_assign_resolves_the_mention_to_a_technician(slack: Slack) -> None:
    view = await slack.open_ticket()
    answer = await slack.command(f"assign {view.number} <@UTOM|tom>", user="UDORA")
    limits(answer)
    assert (await current(slack, view.number)).assignee_id == "tom"


async def test_assign_to_an_unlinked_user_explains(slack: Slack) -> None:
    view = await slack.open_ticket()
    answer = await slack.command(f"assign {view.number} <@UNEW|new>")
    assert "UNEW" in answer["text"]


async def test_note_is_internal_by_default_and_public_on_request(slack: Slack) -> None:
    view = await slack.open_ticket()
    await slack.command(f"note {view.number} checked the cables")
    await slack.command(f"note {view.number} --public we are on it")
    notes = (await current(slack, view.number)).notes
    assert [(n.body, n.visibility) for n in notes] == [
        ("checked the cables", "internal"),
        ("we are on it", "public"),
    ]


async def test_same_trigger_twice_adds_one_note(slack: Slack) -> None:
    view = await slack.open_ticket()
    first = await slack.command(f"note {view.number} once only", trigger="trig-1")
    again = await slack.command(f"note {view.number} once only", trigger="trig-1")
    assert first["blocks"] == again["blocks"]
    assert len((await current(slack, view.number)).notes) == 1


async def test_close_with_resolution(slack: Slack) -> None:
    view = await slack.open_ticket()
    answer = await slack.command(f"close {view.number} replaced the toner")
    limits(answer)
    closed = await current(slack, view.number)
    assert (closed.status, closed.resolution) == ("closed", "replaced the toner")


async def test_close_without_resolution_opens_the_modal(slack: Slack) -> None:
    view = await slack.open_ticket()
    assert await slack.command(f"close {view.number}") == {}
    await slack.settle()
    (opened,) = slack.calls("views.open")
    limits(opened.args["view"])
    assert opened.args["view"]["callback_id"] == "modal.close"


async def test_ticket_new_opens_the_modal_prefilled(slack: Slack) -> None:
    assert await slack.command("ticket new Printer jammed") == {}
    await slack.settle()
    (opened,) = slack.calls("views.open")
    view = opened.args["view"]
    limits(view)
    assert view["callback_id"] == "modal.new_ticket"
    assert "Printer jammed" in text_of(view)


async def test_bad_arguments_answer_in_the_users_language(slack: Slack) -> None:
    answer = await slack.command("ticket abc", user="UALICE")
    assert "abc" in answer["text"]


async def test_unlinked_user_gets_link_instructions(slack: Slack) -> None:
    answer = await slack.command("mine", user="UNEW")
    limits(answer)
    assert "/psa link" in text_of(answer)


async def test_link_by_verified_email(slack: Slack) -> None:
    slack.fake.state.add_user("UNEW", email="Tom@msp.example")
    assert await slack.command("link", user="UNEW") == {}
    await slack.settle()
    (reply,) = slack.calls("response_url")
    assert "Tom Technician" in text_of(reply.args)
    answer = await slack.command("mine", user="UNEW")
    assert "/psa link" not in text_of(answer)


async def test_link_with_unknown_email_explains(slack: Slack) -> None:
    slack.fake.state.add_user("UNEW", email="nobody@elsewhere.example")
    await slack.command("link", user="UNEW")
    await slack.settle()
    (reply,) = slack.calls("response_url")
    assert "nobody@elsewhere.example" in text_of(reply.args)


async def test_sandbox_links_a_newcomer_to_a_demo_technician(make_slack: Callable[..., Any]) -> None:
    slack: Slack = await make_slack(sandbox=True, link=False)
    answer = await slack.command("mine", user="UNEW")
    assert "/psa link" not in text_of(answer)
    actor = await actor_for(slack.engine, slack.client.app[keys.CLOCK], channel="slack", external_id="UNEW")
    assert actor.technician is not None
    assert actor.technician.id == "dora"  # no t-dispatch in the test directory: the first dispatcher


async def test_ack_does_not_wait_for_slack(slack: Slack) -> None:
    """The fake answers after 2 s; the command's own HTTP answer comes before the lazy Web API call ends."""
    slack.fake.state.slow(2)
    assert await slack.command("ticket new Slow Slack") == {}
    await eventually(lambda: len(slack.calls("views.open")) == 1)  # started after the ack, still running
    await slack.settle()


async def test_lazy_work_is_finished_not_lost_on_shutdown(slack: Slack) -> None:
    from psa_chatops.bot.slack.app import lazy_runner
    from psa_chatops.bot.slack.client import BOLT

    slack.fake.state.slow(0.3)
    await slack.command("ticket new Before shutdown")
    bolt = slack.client.app[BOLT]
    assert bolt is not None
    running = set(lazy_runner(bolt).tasks)
    assert running  # the modal is still being opened
    await slack.client.close()  # runs the cleanup contexts: slack_ctx drains the lazy work
    assert all(task.done() and not task.cancelled() for task in running)


async def test_a_repeated_ticket_card_is_never_stale(slack: Slack, clock: FrozenClock) -> None:
    """``/psa ticket N`` answers from memory until a commit anywhere: ours, or another process's (a second engine
    and bus without our writer thread stand in for ``psa worker``)."""
    view = await slack.open_ticket()
    first = await slack.command(f"ticket {view.number}")
    assert await slack.command(f"ticket {view.number}") == first

    await slack.command(f"note {view.number} Toner replaced")
    assert "Toner replaced" in text_of(await slack.command(f"ticket {view.number}"))

    url = str(slack.engine.url)
    other = await asyncio.to_thread(create_engine, url)
    try:
        actor = await actor_for(other, clock, channel="slack", external_id="UALICE")
        await build_bus(other, clock).handle(
            c.AddNote(number=view.number, body="Drum unit ordered"), new_context(actor)
        )
    finally:
        await other.dispose()
    assert "Drum unit ordered" in text_of(await slack.command(f"ticket {view.number}"))


async def test_the_card_is_redrawn_when_the_minute_changes(slack: Slack, clock: FrozenClock) -> None:
    """No commit in between, but the SLA line counts minutes: the memory of the answer must not outlive them."""
    view = await slack.open_ticket()
    first = await slack.command(f"ticket {view.number}")
    clock.advance(minutes=90)
    assert await slack.command(f"ticket {view.number}") != first
