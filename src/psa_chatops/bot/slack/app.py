"""The Slack sub-app: ``POST /slack/events`` (commands, interactivity, shortcuts, options and the Events API on
one URL) and, with OAuth configured, ``GET /slack/install`` and ``GET /slack/oauth_redirect``.

Bolt runs with ``process_before_response=True``: the ack function runs inline and its ``ack(...)`` is the HTTP
answer, so no listener runs as an untracked background future. Ack functions only touch the database (fast);
anything that calls Slack (modals, ``respond``, ``chat.*``) is a lazy listener, run by our tracked runner and
drained on shutdown. Authorisation never calls Slack either (no ``auth.test`` on the first request): a single
workspace uses the configured bot token, several workspaces use the installations in our database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from psa_chatops.bot import keys
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.slack import (
    adapter,
    listeners_actions,
    listeners_alerts,
    listeners_commands,
    listeners_events,
    listeners_options,
    listeners_views,
    oauth,
)
from psa_chatops.bot.slack.client import BOLT, web_client
from psa_chatops.bot.slack.identity import SlackIdentity
from psa_chatops.bot.slack.lazy import TrackedLazyListenerRunner
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.i18n import SUPPORTED_LOCALES, format_datetime, preload

logger = logging.getLogger(__name__)
SANDBOX_TOKEN = "xoxb-sandbox"  # noqa: S105 - a placeholder, not a secret; no workspace: Web API calls go to SLACK_API_URL (a fake) or fail harmlessly
SHUTDOWN_GRACE_SECONDS = 5.0
WARM_ZONES = ("UTC", "Europe/Berlin", "Europe/London", "Europe/Vienna", "Europe/Zurich")


def is_configured(settings: Settings) -> bool:
    """A signing secret (any mode), or the sandbox, which then accepts unsigned requests."""
    return settings.slack_signing_secret is not None or settings.sandbox


def single_workspace_authorize(settings: Settings) -> Any:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else SANDBOX_TOKEN

    async def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    return authorize


def build_bolt(settings: Settings, runtime: SlackRuntime) -> AsyncApp:
    secret = settings.slack_signing_secret
    auth: dict[str, Any] = (
        oauth.bolt_options(settings, runtime.engine, runtime.writer, runtime.clock)
        if oauth.is_enabled(settings)
        else {"authorize": single_workspace_authorize(settings)}
    )
    bolt = AsyncApp(
        name="psa-chatops",
        logger=logging.getLogger("psa_chatops.bot.slack.bolt"),
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=secret is not None,
        process_before_response=True,
        attaching_function_token_enabled=False,  # no Slack custom functions: one middleware less per request
        client=web_client(settings),
        **auth,
    )
    bolt.listener_runner.lazy_listener_runner = TrackedLazyListenerRunner(bolt.logger)
    listeners = (listeners_commands, listeners_actions, listeners_alerts, listeners_views, listeners_options)
    for module in (*listeners, listeners_events):
        module.register(bolt, runtime)
    bolt.error(_log_error)
    return bolt


async def _log_error(error: Exception, body: dict[str, Any]) -> None:
    logger.error("slack listener failed: %s", type(error).__name__, exc_info=error, extra={"type": body.get("type")})


def lazy_runner(bolt: AsyncApp) -> TrackedLazyListenerRunner:
    runner = bolt.listener_runner.lazy_listener_runner
    assert isinstance(runner, TrackedLazyListenerRunner)  # noqa: S101 - build_bolt installs it
    return runner


def build_runtime(app: web.Application) -> SlackRuntime:
    return SlackRuntime.from_app(app, SlackIdentity)


def warm_up() -> list[ZoneInfo]:
    """File reads the renderers would otherwise make on the event loop at first use: the message catalogs and the
    timezones and Babel's locale data cards are drawn with (ZoneInfo caches weakly: the caller keeps the zones)."""
    preload()
    zones = [ZoneInfo(name) for name in WARM_ZONES]
    for locale in SUPPORTED_LOCALES:  # Babel reads its locale data files on first use
        for name in WARM_ZONES:
            format_datetime(datetime.now(UTC), locale, name)
    return zones


async def slack_ctx(app: web.Application) -> AsyncIterator[None]:
    """Build Bolt once the database is up; on shutdown let lazy work finish briefly, then cancel it."""
    settings = app[keys.SETTINGS]
    if not is_configured(settings):
        app[BOLT] = None
        yield
        return
    zones = await asyncio.to_thread(warm_up)
    bolt = build_bolt(settings, build_runtime(app))
    app[BOLT] = bolt
    yield
    zones.clear()
    await lazy_runner(bolt).drain(SHUTDOWN_GRACE_SECONDS)


async def events(request: web.Request) -> web.Response:
    bolt = request.app[BOLT]  # the route is on the root app: no ChainMapProxy per request
    if bolt is None:
        logger.warning("slack request refused: set SLACK_SIGNING_SECRET (or run the sandbox)")
        return web.json_response({"error": "Slack is not configured"}, status=503)
    return await adapter.dispatch(bolt, request)


def add_slack(app: web.Application) -> None:
    """The Slack routes, on the root app itself: they need none of the REST or Teams middlewares, and a sub-app
    would cost every slash command another routing and middleware pass (measured in ``bench/slack.py``)."""
    app.router.add_post("/slack/events", events)
    oauth.add_routes(app)
    app.cleanup_ctx.append(slack_ctx)
