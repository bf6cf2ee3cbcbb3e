"""Multi-workspace mode: the OAuth v2 install flow stores the workspace (token encrypted) and later requests
from that workspace are authorised with its token."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.fernet import Fernet
from sqlalchemy import select

from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.slack_installations import MemoryStateStore
from tests.slack.conftest import Slack

KEY = Fernet.generate_key().decode()


async def install(slack: Slack) -> None:
    page = await slack.client.get("/slack/install", allow_redirects=False)
    assert page.status in (200, 302)
    html = await page.text()
    location = page.headers.get("Location") or re.search(r'href="(https://slack.com/oauth[^"]+)"', html).group(1)  # type: ignore[union-attr]
    state = parse_qs(urlsplit(location.replace("&amp;", "&")).query)["state"][0]
    cookie = page.headers["Set-Cookie"].split(";")[0]
    done = await slack.client.get(
        "/slack/oauth_redirect", params={"code": "the-code", "state": state}, headers={"Cookie": cookie}
    )
    assert done.status == 200, await done.text()


async def test_install_stores_the_workspace_with_an_encrypted_token(make_slack: Callable[..., Any]) -> None:
    slack: Slack = await make_slack(
        slack_client_id="111.222", slack_client_secret="s3cr3t", encryption_key=KEY, slack_bot_token=None
    )
    await install(slack)
    async with read_connection(slack.engine) as conn:
        (row,) = (await conn.execute(select(t.table_of(t.SlackInstallationRow)))).all()
    assert row.team_id == "T0PSA"
    assert "xoxb-installed" not in row.bot_token_encrypted
    assert Fernet(KEY.encode()).decrypt(row.bot_token_encrypted.encode()) == b"xoxb-installed"
    assert (await slack.command("ticket new From OAuth")) == {}
    await slack.settle()
    (opened,) = slack.calls("views.open")
    assert opened.token == "xoxb-installed"


async def test_unknown_workspace_is_not_authorised(make_slack: Callable[..., Any]) -> None:
    slack: Slack = await make_slack(
        slack_client_id="111.222", slack_client_secret="s3cr3t", encryption_key=KEY, slack_bot_token=None
    )
    from urllib.parse import urlencode

    response = await slack.post(urlencode({"command": "/psa", "text": "help", "user_id": "UALICE", "team_id": "T0PSA"}))
    assert "install" in (await response.text()).lower()


async def test_state_is_single_use() -> None:
    store = MemoryStateStore()
    state = await store.async_issue()
    assert await store.async_consume(state)
    assert not await store.async_consume(state)
    assert not await store.async_consume("forged")


async def test_install_route_is_404_in_single_workspace_mode(slack: Slack) -> None:
    response = await slack.client.get("/slack/install")
    assert response.status == 404
