"""``create_app(settings)``: the one aiohttp Application that runs the PSA, with health, readiness and metrics.

Channel adapters (Slack, Teams, REST) mount as sub-apps with their own guard middlewares; the root middlewares
stay transport-neutral. Every resource is opened in ``cleanup_ctx``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from psa_chatops import __version__
from psa_chatops.bot import keys, lifecycle
from psa_chatops.bot.api import v1, v2
from psa_chatops.bot.api.app import add_api, api_ctx
from psa_chatops.bot.api.docs import add_docs
from psa_chatops.bot.calendar import add_calendar
from psa_chatops.bot.metrics import Metrics
from psa_chatops.bot.middlewares import observe, request_locale
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.slack.app import add_slack
from psa_chatops.bot.teams.app import add_teams
from psa_chatops.core.errors import N_
from psa_chatops.handlers.ports import Clock
from psa_chatops.i18n import translate
from psa_chatops.storage.engine import read_connection
from psa_chatops.storage.outbox import OutboxStore
from psa_chatops.storage.unit_of_work import SystemClock


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(middlewares=[observe], client_max_size=1024**2)
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.METRICS] = Metrics()
    app.cleanup_ctx.extend([lifecycle.database_ctx, lifecycle.http_ctx, api_ctx, lifecycle.background_ctx])
    add_api(app, [(v1.ROOT, v1.build_api()), (v2.ROOT, v2.build_api())])
    add_slack(app)  # after the database and HTTP contexts: slack_ctx needs both
    add_teams(app)  # POST /api/messages, its own sub-app (JWT guard); teams_ctx needs the same contexts
    add_docs(app)
    add_calendar(app)  # GET /calendar/{token}.ics: the customers' maintenance window feeds
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/privacy", privacy)
    app.router.add_get("/terms", terms)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def index(request: web.Request) -> web.Response:
    settings = request.config_dict[keys.SETTINGS]
    return web.json_response(
        {
            "service": "psa-chatops",
            "version": __version__,
            "sandbox": settings.sandbox,
            "links": {
                "health": "/healthz",
                "ready": "/readyz",
                "metrics": "/metrics",
                "api": "/api/v1",
                "openapi": "/api/v1/openapi.json",
                "docs": "/docs",
            },
        }
    )


PRIVACY = N_(
    "psa-chatops is run by your IT service provider. It stores what you send it (tickets, notes, your chat user id "
    "and e-mail address for linking) in your provider's PSA, and nothing elsewhere. Ask your provider to see or "
    "delete your data."
)
TERMS = N_(
    "psa-chatops connects your chat to your IT service provider's PSA. Use it for support requests with your "
    "provider; their service agreement applies."
)


async def privacy(request: web.Request) -> web.Response:
    """The page a Teams app package must link to (``privacyUrl``)."""
    return web.Response(text=translate(PRIVACY, request_locale(request)), content_type="text/plain")


async def terms(request: web.Request) -> web.Response:
    """The page a Teams app package must link to (``termsOfUseUrl``)."""
    return web.Response(text=translate(TERMS, request_locale(request)), content_type="text/plain")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _database_ok(request: web.Request) -> tuple[bool, str]:
    try:
        async with read_connection(request.config_dict[keys.ENGINE]) as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # readiness reports the failure; it must never raise
        return False, type(exc).__name__
    return True, "ok"


async def readyz(request: web.Request) -> web.Response:
    settings = request.config_dict[keys.SETTINGS]
    dispatcher = request.config_dict[keys.DISPATCHER]
    db_ok, db_detail = await _database_ok(request)
    dispatcher_ok = dispatcher.running or not settings.run_background
    checks: dict[str, Any] = {
        "database": {"ok": db_ok, "detail": db_detail},
        "dispatcher": {"ok": dispatcher_ok, "running": dispatcher.running, "in_this_process": settings.run_background},
        "breakers": dispatcher.breakers.snapshot(),
    }
    ready = db_ok and dispatcher_ok
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    m = request.config_dict[keys.METRICS]
    clock = request.config_dict[keys.CLOCK]
    stats = await OutboxStore(request.config_dict[keys.ENGINE]).stats(now=clock.now())
    for status in ("pending", "delivered", "recorded", "dead"):
        m.outbox_depth.labels(status).set(stats["by_status"].get(status, 0))
    m.outbox_age.set(stats["oldest_pending_age_seconds"])
    dispatcher = request.config_dict[keys.DISPATCHER]
    for destination, snap in dispatcher.breakers.snapshot().items():
        m.breaker_state.labels(destination).set(0 if snap["state"] == "closed" else 1)
    return web.Response(body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
