"""``psa doctor``: what is misconfigured, and how to fix it. Each check is small and never raises."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.settings import Settings
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import current_revision, head_revision

KNOWN_KINDS = {
    "webhook": "ready",
    "slack": "arrives with the Slack integration",
    "teams": "arrives with the Teams integration",
    "email": "arrives with the e-mail integration",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False


def config_checks(settings: Settings) -> list[Check]:
    checks = [Check("settings", True, f"database {settings.redacted_database_url()}, sandbox={settings.sandbox}")]
    if not settings.sandbox and not settings.public_url.startswith("https://"):
        checks.append(
            Check(
                "public url",
                False,
                f"PSA_PUBLIC_URL is {settings.public_url}",
                "set PSA_PUBLIC_URL to the https:// address Slack and Teams will call",
                warning=True,
            )
        )
    if not settings.sandbox and settings.webhook_signing_secret is None:
        checks.append(
            Check(
                "webhook signing",
                False,
                "webhook deliveries are not signed",
                "set PSA_WEBHOOK_SIGNING_SECRET (receivers verify X-PSA-Signature)",
                warning=True,
            )
        )
    if settings.is_sqlite and not settings.run_background:
        checks.append(
            Check(
                "background work",
                False,
                "PSA_RUN_BACKGROUND=0 with SQLite: who runs the dispatcher?",
                "run `psa worker` on the same machine, or use PostgreSQL to scale out",
                warning=True,
            )
        )
    return checks


async def database_checks(settings: Settings) -> list[Check]:
    engine = await asyncio.to_thread(create_engine, settings.database_url)  # may create the SQLite folder
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        current, head = await current_revision(engine), await asyncio.to_thread(head_revision)
        checks = [Check("database", True, "reachable")]
        if current != head:
            checks.append(
                Check("migrations", False, f"database at {current}, code expects {head}", "run `psa migrate`")
            )
        else:
            checks.append(Check("migrations", True, f"at {head}"))
            checks += await _routing_checks(engine)
        return checks
    except Exception as exc:  # doctor reports; it never crashes
        return [
            Check(
                "database",
                False,
                f"{type(exc).__name__}: {str(exc)[:200]}",
                "check PSA_DATABASE_URL and that the server is running and reachable",
            )
        ]
    finally:
        await engine.dispose()


async def _routing_checks(engine: AsyncEngine) -> list[Check]:
    table = t.table_of(t.RoutingRuleRow)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(table.c.id, table.c.destination).where(table.c.enabled.is_(True)))).all()
    checks = []
    for rule_id, destination in rows:
        kind, sep, target = destination.partition(":")
        if not sep or not target or kind not in KNOWN_KINDS:
            checks.append(
                Check(
                    f"routing rule {rule_id}",
                    False,
                    f"destination {destination!r} is not kind:target",
                    "use webhook:https://..., slack:<channel id>, teams:<conversation id> or email:<address>",
                )
            )
        elif kind != "webhook":
            checks.append(
                Check(
                    f"routing rule {rule_id}",
                    False,
                    f"{destination}: {KNOWN_KINDS[kind]}",
                    "in sandbox mode these are recorded; in production they dead-letter for now",
                    warning=True,
                )
            )
    if not rows:
        checks.append(
            Check(
                "routing rules",
                False,
                "no routing rules: events are stored but sent nowhere",
                "add one (the REST API /routing-rules or `psa demo seed` in a sandbox)",
                warning=True,
            )
        )
    return checks


def api_checks(settings: Settings) -> list[Check]:
    """The REST gateway: a signing key every replica shares, and where rate limits and the cache live."""
    from psa_chatops.bot.api.tokens import load_or_create_signing_key

    checks = []
    pem = settings.jwt_private_key
    if pem is None:
        checks.append(
            Check(
                "oauth2 signing key",
                settings.sandbox,
                "generated at start: tokens die with the process and replicas cannot verify each other's",
                "set PSA_JWT_PRIVATE_KEY to an EC P-256 PEM (openssl ecparam -name prime256v1 -genkey -noout)",
                warning=True,
            )
        )
    else:
        try:
            load_or_create_signing_key(pem.get_secret_value())
            checks.append(Check("oauth2 signing key", True, "PSA_JWT_PRIVATE_KEY is a usable EC P-256 key"))
        except ValueError as exc:
            checks.append(
                Check("oauth2 signing key", False, str(exc), "PSA_JWT_PRIVATE_KEY must be an unencrypted P-256 PEM")
            )
    if settings.jwt_external_issuer:
        checks.append(Check("external identity provider", True, f"tokens of {settings.jwt_external_issuer} accepted"))
    return checks


async def redis_checks(settings: Settings) -> list[Check]:
    if settings.redis_url is None:
        detail = "not set: rate limits and the API cache are per process"
        fix = "set PSA_REDIS_URL when you run several replicas"
        return [Check("redis", True, detail, None if settings.sandbox else fix, warning=not settings.sandbox)]
    from psa_chatops.bot.api.redis_client import make_redis_client

    client = make_redis_client(settings.redis_url.get_secret_value())
    try:
        await client.ping()
        return [Check("redis", True, "reachable: rate limits and the API cache are shared by all replicas")]
    except Exception as exc:  # doctor reports, never raises
        return [Check("redis", False, f"unreachable ({type(exc).__name__})", "check PSA_REDIS_URL and that Redis runs")]
    finally:
        await client.aclose()


async def run_checks(settings: Settings) -> list[Check]:
    return (
        config_checks(settings) + api_checks(settings) + await redis_checks(settings) + await database_checks(settings)
    )
