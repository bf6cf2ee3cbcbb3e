"""The Teams sub-app: ``POST /api/messages``, mounted at exactly that prefix so its one middleware (the JWT guard,
``auth.jwt_guard``) never sees the Slack or REST routes (nothing is mounted at ``/api`` itself: ``/api/v1`` and
``/api/v2`` are sub-apps of their own).

The handler is two small steps, like the SDK's own aiohttp sample: check that the body is an activity (400
otherwise, with no traceback), then the adapter's ``process_request`` (what ``CloudAdapter.process`` does, with a
request wrapper that reads the claims from a typed ``RequestKey``). The adapter runs the turn before answering, so
replies are sent (and invokes answered) within the request; nothing runs as an untracked background task.
Unexpected errors in a turn are logged by ``on_turn_error`` and never shown to the user (the SDK's default echoes
the exception text into the chat).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from pydantic import ValidationError

from psa_chatops.bot import keys
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.teams import auth, sdk_fixes
from psa_chatops.bot.teams.agent import PsaAgent
from psa_chatops.bot.teams.identity import TeamsIdentity
from psa_chatops.bot.teams.runtime import TeamsRuntime
from psa_chatops.storage.teams_conversations import TeamsConversationStore

logger = logging.getLogger(__name__)
ROOT = "/api/messages"


@dataclass
class TeamsHost:
    adapter: CloudAdapter
    agent: PsaAgent


TEAMS: web.AppKey[TeamsHost | None] = web.AppKey("teams")


def is_configured(settings: Settings) -> bool:
    """An app id (tokens are checked against it), or the sandbox (then anonymous requests pass)."""
    return bool(settings.teams_app_id) or settings.sandbox


def build_runtime(app: web.Application) -> TeamsRuntime:
    conversations = TeamsConversationStore(app[keys.ENGINE], writer=app[keys.WRITER])
    return TeamsRuntime.from_app(app, TeamsIdentity, conversations=conversations)


def build_adapter(settings: Settings) -> CloudAdapter:
    configuration = auth.auth_configuration(settings)
    adapter = CloudAdapter(
        channel_service_client_factory=auth.client_factory(settings, configuration),
        host_validator=auth.host_validator(settings),
    )
    adapter.on_turn_error = _turn_error
    return adapter


async def _turn_error(context: TurnContext, error: Exception) -> None:
    activity = context.activity
    logger.error(
        "teams turn failed: %s",
        type(error).__name__,
        exc_info=error,
        extra={"activity_type": activity.type, "activity_name": activity.name},
    )


async def teams_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if not is_configured(settings):
        app[TEAMS] = None
        yield
        return
    await sdk_fixes.cache_product_info()
    app[auth.TEAMS_AUTH] = auth.build_auth(settings, app[keys.HTTP])
    app[TEAMS] = TeamsHost(build_adapter(settings), PsaAgent(build_runtime(app)))
    yield


def activity_problem(body: Any) -> str | None:
    """Why a request body is not an activity we can process, or None."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    conversation = body.get("conversation")
    if not isinstance(body.get("type"), str) or not isinstance(conversation, dict):
        return "an activity needs a type and a conversation"
    if not isinstance(conversation.get("id"), str) or not isinstance(body.get("serviceUrl", ""), str):
        return "an activity needs conversation.id and a serviceUrl"
    try:
        Activity.model_validate(body)
    except (ValidationError, ValueError, TypeError):
        return "the activity does not match the Bot Framework schema"
    return None


async def messages(request: web.Request) -> web.StreamResponse:
    host = request.config_dict[TEAMS]
    if host is None:
        return web.json_response({"error": "Teams is not configured"}, status=503)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    problem = activity_problem(body)
    if problem is not None:
        return web.json_response({"error": problem}, status=400)
    answer = await host.adapter.process_request(SdkRequest(request), host.agent)
    return CloudAdapter._to_aiohttp_response(answer)


class SdkRequest:
    """The SDK's ``HttpRequestProtocol`` over an aiohttp request, like its ``AiohttpRequestAdapter`` but reading the
    claims from our typed request key (the SDK's own adapter reads a string key, which aiohttp warns about)."""

    def __init__(self, request: web.Request) -> None:
        self._request = request

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def headers(self) -> Any:
        return self._request.headers

    async def json(self) -> Any:
        return await self._request.json()

    def get_claims_identity(self) -> ClaimsIdentity | None:
        return self._request.get(auth.CLAIMS)

    def get_path_param(self, name: str) -> str:
        return self._request.match_info[name]


@web.middleware
async def configured(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    if request.config_dict[TEAMS] is None:
        logger.warning("teams request refused: set TEAMS_APP_ID (or run the sandbox)")
        return web.json_response({"error": "Teams is not configured"}, status=503)
    return await handler(request)


def add_teams(app: web.Application) -> None:
    """Mount the Teams sub-app (its own route and middlewares, none of the REST or Slack ones)."""
    teams = web.Application(middlewares=[configured, auth.jwt_guard])
    teams.router.add_post("", messages)
    app.cleanup_ctx.append(teams_ctx)
    app.add_subapp(ROOT, teams)
