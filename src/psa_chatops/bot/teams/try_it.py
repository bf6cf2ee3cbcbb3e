"""``psa try teams 'ticket 12345'``: run a chat message through the real service and handlers, against the
configured database, without a Teams tenant, and show every card it produced.

The service runs in-process as the anonymous sandbox (no app id: the Emulator's setup), so the request passes
the same endpoint, adapter and agent as a real one. The Bot Connector is a small recorder on another loopback
port: it answers like the connector and keeps every activity it got. Nothing leaves the machine. Writes (``note``,
``close``) really happen in the configured database.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from psa_chatops.bot import keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.teams.identity import TeamsIdentity

DESIGNER_URL = "https://adaptivecards.microsoft.com/designer"
RECORDER: web.AppKey[list[dict[str, Any]]] = web.AppKey("teams_captured")


@dataclass
class Trial:
    text: str
    user_id: str = "aad-try"
    conversation_id: str = "a:try-personal-chat"
    technician: str | None = None  # link the trial user to this technician first
    captured: list[dict[str, Any]] = field(default_factory=list)


async def _record(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else {}
    request.app[RECORDER].append(body if isinstance(body, dict) else {})
    return web.json_response({"id": f"1:{secrets.token_hex(4)}"})


def recorder() -> web.Application:
    app = web.Application()
    app[RECORDER] = []
    app.router.add_route("*", "/v3/conversations/{conversation}/activities", _record)
    app.router.add_route("*", "/v3/conversations/{conversation}/activities/{activity}", _record)
    return app


def message(trial: Trial, service_url: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"try.{secrets.token_hex(8)}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": f"29:{trial.user_id}", "aadObjectId": trial.user_id, "name": "try"},
        "recipient": {"id": "28:psa-try", "name": "PSA"},
        "conversation": {"id": trial.conversation_id, "conversationType": "personal"},
        "text": trial.text,
        "locale": "en-US",
    }


def service_settings(settings: Settings) -> Settings:
    anonymous = {"sandbox": True, "teams_app_id": None, "teams_app_password": None, "run_background": False}
    return settings.model_copy(update=anonymous)


async def run(settings: Settings, trial: Trial) -> list[dict[str, Any]]:
    """Every activity the message produced (replies and updates), in order."""
    connector_app = recorder()
    connector = TestServer(connector_app)
    await connector.start_server()
    try:
        async with TestClient(TestServer(create_app(service_settings(settings)))) as client:
            if trial.technician:
                app = client.app
                identity = TeamsIdentity(app[keys.ENGINE], app[keys.WRITER], app[keys.CLOCK], sandbox_enabled=False)
                await identity.link(trial.user_id, trial.technician)
            response = await client.post("/api/messages", json=message(trial, str(connector.make_url("/"))))
            response.raise_for_status()
    finally:
        await connector.close()
    captured: list[dict[str, Any]] = connector_app[RECORDER]
    return list(captured)


def cards(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [a.get("content") or {} for a in activity.get("attachments") or [] if "adaptive" in a.get("contentType", "")]


def report(captured: list[dict[str, Any]]) -> str:
    """What ``psa try teams`` prints: each card's JSON (paste it into the Adaptive Cards Designer)."""
    found = [card for activity in captured for card in cards(activity)]
    texts = [str(a["text"]) for a in captured if a.get("text")]
    if not found and not texts:
        return "The message produced no reply."
    parts = [f"--- text\n{text}" for text in texts]
    for card in found:
        parts.append("--- card")
        parts.append(json.dumps(card, indent=2, ensure_ascii=False, default=str))
    parts.append(f"Adaptive Cards Designer (host app: Microsoft Teams): paste a card's JSON at {DESIGNER_URL}")
    return "\n".join(parts)
