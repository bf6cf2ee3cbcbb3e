"""Modal submissions (inline errors, exactly once per view) and the external selects' options."""

from __future__ import annotations

import json
from typing import Any

from psa_chatops.bot import keys
from psa_chatops.cards.slack import ids
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.repositories import FIRST_TICKET_NUMBER
from tests.slack.conftest import Slack, corpus, limits, selected, text_value, view_submission
from tests.slack.test_commands import current


async def submit(slack: Slack, payload: dict[str, Any]) -> dict[str, Any]:
    response = await slack.interaction(payload)
    assert response.status == 200
    answer = await response.json() if response.content_length else {}
    await slack.settle()
    return answer


def new_ticket_values(title: str = "Mail down", customer: str | None = "CUST-789") -> dict[str, Any]:
    values = {**text_value(ids.TITLE, title), **text_value(ids.DESCRIPTION, "Nobody gets mail.")}
    if customer:
        values.update(selected(ids.CUSTOMER, customer))
    values.update(selected(ids.PRIORITY, "high"))
    return values


async def ticket_count(slack: Slack) -> int:
    from sqlalchemy import func, select

    from psa_chatops.storage import tables as t

    async with read_connection(slack.client.app[keys.ENGINE]) as conn:
        return int((await conn.execute(select(func.count()).select_from(t.table_of(t.TicketRow)))).scalar_one())


async def test_new_ticket_is_created_and_shown(slack: Slack) -> None:
    metadata = json.dumps({"channel": "C0CHAN", "response_url": slack.fake.response_url("cmd"), "user": "UALICE"})
    answer = await submit(slack, view_submission(ids.NEW_TICKET_MODAL, new_ticket_values(), private_metadata=metadata))
    assert answer == {}
    assert await ticket_count(slack) == 1
    (shown,) = slack.calls("response_url")
    limits({k: v for k, v in shown.args.items() if k in ("text", "blocks")})
    assert "Mail down" in json.dumps(shown.args, ensure_ascii=False)


async def test_new_ticket_missing_fields_are_inline_errors(slack: Slack) -> None:
    answer = await submit(slack, view_submission(ids.NEW_TICKET_MODAL, new_ticket_values(title="", customer=None)))
    limits(answer)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {ids.CUSTOMER[0], ids.TITLE[0]}
    assert await ticket_count(slack) == 0


async def test_domain_error_is_an_inline_error(slack: Slack) -> None:
    answer = await submit(slack, view_submission(ids.NEW_TICKET_MODAL, new_ticket_values(customer="CUST-NOPE")))
    assert answer["response_action"] == "errors"
    assert ids.TITLE[0] in answer["errors"]


async def test_double_submit_creates_one_ticket(slack: Slack) -> None:
    payload = view_submission(ids.NEW_TICKET_MODAL, new_ticket_values(), id="V-TWICE")
    await submit(slack, payload)
    await submit(slack, payload)
    assert await ticket_count(slack) == 1


async def test_add_note_modal_adds_a_public_reply_and_refreshes_the_card(slack: Slack) -> None:
    view = await slack.open_ticket()
    metadata = json.dumps({"number": view.number, "response_url": slack.fake.response_url("card"), "channel": "C1"})
    values = {**text_value(ids.NOTE_BODY, "On our way"), **selected(ids.NOTE_VISIBILITY, "public")}
    payload = view_submission(ids.ADD_NOTE_MODAL, values, private_metadata=metadata, id="V-NOTE")
    assert await submit(slack, payload) == {}
    await submit(slack, payload)  # a double click
    notes = (await current(slack, view.number)).notes
    assert [(n.body, n.visibility) for n in notes] == [("On our way", "public")]
    (refresh,) = slack.calls("response_url")
    assert refresh.args["replace_original"] is True


async def test_add_note_needs_text(slack: Slack) -> None:
    view = await slack.open_ticket()
    metadata = json.dumps({"number": view.number})
    answer = await submit(
        slack, view_submission(ids.ADD_NOTE_MODAL, text_value(ids.NOTE_BODY, " "), private_metadata=metadata)
    )
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [ids.NOTE_BODY[0]]


async def test_close_modal_closes_with_resolution(slack: Slack) -> None:
    view = await slack.open_ticket()
    metadata = json.dumps({"number": view.number})
    payload = view_submission(
        ids.CLOSE_MODAL, text_value(ids.RESOLUTION, "Replaced the PSU"), private_metadata=metadata
    )
    assert await submit(slack, payload) == {}
    closed = await current(slack, view.number)
    assert (closed.status, closed.resolution) == ("closed", "Replaced the PSU")


def suggestion(action_id: str, value: str, *, customer: str | None = None, user: str = "UALICE") -> dict[str, Any]:
    payload = json.loads(corpus("block_suggestion.json").read_text())
    payload.update(action_id=action_id, block_id=action_id.split("_")[0], value=value)
    payload["user"] = {"id": user, "team_id": "T0PSA"}
    payload["team"] = {"id": "T0PSA", "domain": "psa-test"}
    payload["view"]["state"] = {"values": selected(ids.CUSTOMER, customer) if customer else {}}
    return payload


async def test_customer_options_search(slack: Slack) -> None:
    response = await slack.interaction(suggestion(ids.CUSTOMER[1], "glob"))
    answer = await response.json()
    limits(answer)
    assert [o["value"] for o in answer["options"]] == ["CUST-100"]


async def test_customer_options_respect_the_technicians_scope(slack: Slack) -> None:
    from psa_chatops.storage import directory_writer as w

    async with slack.engine.begin() as conn:
        await w.link_actor(
            conn,
            channel="slack",
            external_id="USAM",
            kind="technician",
            target_id="sam",
            now=slack.client.app[keys.CLOCK].now(),
        )
    answer = await (await slack.interaction(suggestion(ids.CUSTOMER[1], "", user="USAM"))).json()
    assert [o["value"] for o in answer["options"]] == ["CUST-100"]


async def test_asset_options_follow_the_chosen_customer(slack: Slack) -> None:
    with_customer = await (await slack.interaction(suggestion(ids.ASSET[1], "ws", customer="CUST-789"))).json()
    limits(with_customer)
    assert [o["value"] for o in with_customer["options"]] == ["WS-CLIENT-042"]
    other = await (await slack.interaction(suggestion(ids.ASSET[1], "ws", customer="CUST-100"))).json()
    assert other["options"] == []


def assignee(user: str) -> dict[str, Any]:
    block, action = ids.ASSIGNEE
    return {block: {action: {"type": "users_select", "selected_user": user}}}


async def test_new_ticket_assignee_is_the_linked_technician(slack: Slack) -> None:
    values = {**new_ticket_values(title="Assigned from Slack"), **assignee("UTOM")}
    assert await submit(slack, view_submission(ids.NEW_TICKET_MODAL, values, id="V-ASSIGN")) == {}
    assert (await current(slack, FIRST_TICKET_NUMBER)).assignee_id == "tom"


async def test_new_ticket_assignee_must_be_linked(slack: Slack) -> None:
    values = {**new_ticket_values(), **assignee("UNEW")}
    answer = await submit(slack, view_submission(ids.NEW_TICKET_MODAL, values))
    assert list(answer["errors"]) == [ids.ASSIGNEE[0]]
    assert await ticket_count(slack) == 0
