"""``psa doctor``: what is misconfigured, and how to fix it. Each check is small and never raises."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.settings import Settings
from psa_chatops.integrations.smtp.config import SmtpServer, parse_smtp_url
from psa_chatops.storage import tables as t
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import current_revision, head_revision

KNOWN_KINDS = {
    "webhook": "ready",
    "slack": "arrives with the Slack integration",
    "teams": "arrives with the Teams integration",
    "email": "ready",  # email:contacts|technicians|dispatchers|<address>; needs PSA_MAIL_FROM and a transport
    "splunk": "ready",  # SIEM forwarding: the <name> must be configured in PSA_SIEM_SPLUNK (siem_checks)
    "elastic": "ready",
    "qradar": "ready",
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
        elif KNOWN_KINDS[kind] != "ready":
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


# --- soc vendor APIs: SentinelOne and Defender (pollers, close-back, isolation) ---


def soc_checks(settings: Settings) -> list[Check]:
    """Which SOC vendor APIs are on, and settings that leave one half-configured."""
    checks = []
    every = f"polled every {settings.security_poll_seconds:g} s, close-back and isolation on"
    if settings.sentinelone_url:
        secure = settings.sentinelone_url.startswith("https://") or settings.sandbox
        fix = None if secure else "PSA_SENTINELONE_URL must be the https:// console URL (the token travels with it)"
        checks.append(Check("sentinelone", secure, f"{settings.sentinelone_url}: {every}", fix))
    if settings.defender_tenant_id and settings.defender_credentials() is None:
        fix = "set PSA_DEFENDER_CLIENT_ID and PSA_DEFENDER_CLIENT_SECRET (or PSA_GRAPH_CLIENT_ID/_SECRET)"
        checks.append(Check("defender", False, "PSA_DEFENDER_TENANT_ID is set but the app credentials are not", fix))
    elif settings.defender_tenant_id:
        checks.append(Check("defender", True, f"tenant {settings.defender_tenant_id}: {every}"))
    if not checks:
        detail = "no SentinelOne or Defender API configured: security alerts arrive only by push (REST, webhooks)"
        checks.append(Check("soc vendors", True, detail))
    return checks


# --- end soc vendor APIs ---


# --- siem forwarding: Splunk HEC, Elastic, QRadar destinations ---


async def siem_checks(settings: Settings) -> list[Check]:
    """Each SIEM destination named in PSA_SIEM_*: safe transport, and whether it answers (nothing is indexed)."""
    from psa_chatops.integrations.siem.probe import probe_all

    try:
        probes = await probe_all(
            splunk=settings.siem_splunk, elastic=settings.siem_elastic, qradar=settings.siem_qradar
        )
    except Exception as exc:  # doctor reports, never raises
        return [Check("siem", False, f"{type(exc).__name__}: {str(exc)[:200]}")]
    return [Check(p.name, p.ok, p.detail, p.fix, warning=p.warning) for p in probes]


# --- end siem forwarding ---


# --- outgoing e-mail ---


def mail_checks(settings: Settings) -> list[Check]:
    """The From address and the transport, when any outgoing mail setting is present."""
    if not (settings.mail_from or settings.smtp_url or settings.graph_mail_user):
        return []
    if settings.mail_from is None:
        return [Check("e-mail", False, "no sender address", "set PSA_MAIL_FROM, e.g. 'Desk <desk@msp.example>'")]
    if settings.mail_transport == "graph":
        if not settings.mail_configured():
            fix = "set PSA_GRAPH_MAIL_USER, PSA_GRAPH_TENANT_ID, PSA_GRAPH_CLIENT_ID and PSA_GRAPH_CLIENT_SECRET"
            return [Check("e-mail", False, "Graph sendMail is not configured", fix)]
        return [Check("e-mail", True, f"Graph sendMail as {settings.graph_mail_user}, From {settings.mail_from}")]
    if settings.smtp_url is None:
        return [Check("e-mail", False, "no SMTP server", "set PSA_SMTP_URL, e.g. smtp+starttls://user@host:587")]
    return _smtp_checks(settings, parse_smtp_url(settings.smtp_url))


def _smtp_checks(settings: Settings, server: SmtpServer) -> list[Check]:
    checks = [Check("e-mail", True, f"SMTP {server.describe()}, From {settings.mail_from}")]
    if server.username and settings.smtp_password is None:
        checks.append(Check("smtp auth", False, f"user {server.username} but no password", "set PSA_SMTP_PASSWORD"))
    if server.security == "none" and server.host not in ("localhost", "127.0.0.1", "::1"):
        checks.append(
            Check(
                "smtp tls",
                False,
                f"mail to {server.host} travels unencrypted" + (" with the password" if server.username else ""),
                "use smtp+starttls:// (port 587) or smtps:// (port 465)",
                warning=True,
            )
        )
    return checks


# --- end outgoing e-mail ---


# --- e-mail intake ---


async def mailbox_checks(settings: Settings) -> list[Check]:
    """Each mailbox of PSA_MAILBOXES: connect and log in (nothing is fetched or marked)."""
    from psa_chatops.integrations.mail_in.readers import MailboxError
    from psa_chatops.integrations.mail_in.wiring import check_login

    if not settings.mailboxes:
        return []
    checks = []
    engine = await asyncio.to_thread(create_engine, settings.database_url)
    try:
        for mailbox in settings.mailboxes:
            name = f"mailbox {mailbox.label}"
            where = f"{mailbox.scheme}://{mailbox.host}"
            try:
                detail = await asyncio.wait_for(check_login(mailbox, engine), mailbox.timeout_seconds + 5)
                checks.append(Check(name, True, f"{where}: {detail}"))
            except (MailboxError, OSError, TimeoutError) as exc:
                fix = "check the URL, the password (password_env/password_file) and that the server is reachable"
                checks.append(Check(name, False, str(exc)[:300] or type(exc).__name__, fix))
            except Exception as exc:  # doctor reports, never raises
                checks.append(Check(name, False, f"{type(exc).__name__}: {str(exc)[:200]}"))
    finally:
        await engine.dispose()
    return checks


# --- end e-mail intake ---


async def run_checks(settings: Settings) -> list[Check]:
    return (
        config_checks(settings)
        + mail_checks(settings)
        + api_checks(settings)
        + soc_checks(settings)
        + await redis_checks(settings)
        + await siem_checks(settings)
        + await mailbox_checks(settings)
        + await database_checks(settings)
    )
