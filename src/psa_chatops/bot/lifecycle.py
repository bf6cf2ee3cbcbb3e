"""``cleanup_ctx`` generators: each resource is opened before the app serves and closed after it stops.

Background tasks are kept in a set on the app and cancelled then awaited on cleanup; nothing is fire-and-forget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from microsoft_agents.hosting.core import OutboundHostValidator
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops import __version__
from psa_chatops.bot import keys
from psa_chatops.bot.bootstrap import build_bus, system_context
from psa_chatops.bot.calendar import calendar_notifier, configured_calendar
from psa_chatops.bot.scheduler import ScheduledWork, add_interval_job, add_report_jobs, build_scheduler
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.worker import Dispatcher
from psa_chatops.core.alerts import AlertSignal
from psa_chatops.core.commands import IngestAlert
from psa_chatops.core.errors import DomainError
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Clock, Notifier
from psa_chatops.handlers.reports import CUSTOMER_SUMMARY, SLA_DIGEST
from psa_chatops.integrations.mail_in.wiring import mailbox_runners
from psa_chatops.integrations.recorder import NotifierRegistry
from psa_chatops.integrations.resilience import BreakerBoard, BreakerPolicy, RetryPolicy
from psa_chatops.integrations.security.poller import AlertSink
from psa_chatops.integrations.security.wiring import SOC_KIND, SocNotifier, soc_clients, soc_pollers
from psa_chatops.integrations.siem.build import close_siem, siem_notifiers
from psa_chatops.integrations.slack_notifier import SLACK_KIND, SlackNotifier, SlackWebhookNotifier
from psa_chatops.integrations.smtp.audience import EMAIL_KIND
from psa_chatops.integrations.smtp.notifier import EmailNotifier
from psa_chatops.integrations.smtp.transport import MailTransport
from psa_chatops.integrations.smtp.wiring import (
    GraphMailOptions,
    SmtpOptions,
    email_notifier,
    graph_transport,
    smtp_transport,
)
from psa_chatops.integrations.teams_notifier import (
    TEAMS_KIND,
    TeamsNotifier,
    TeamsWorkflowsNotifier,
    TokenFor,
    anonymous,
    msal_tokens,
)
from psa_chatops.integrations.webhooks import WebhookNotifier
from psa_chatops.storage.calendar_sync import CALENDAR_KIND
from psa_chatops.storage.commit_watch import CommitWatch
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from psa_chatops.storage.outbox import OutboxStore
from psa_chatops.storage.sqlite_writer import SqliteWriter

logger = logging.getLogger(__name__)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    engine = await asyncio.to_thread(create_engine, settings.database_url)  # may create the SQLite folder
    await upgrade(engine)
    writer = SqliteWriter(settings.database_url) if settings.is_sqlite else None
    app[keys.ENGINE], app[keys.WRITER] = engine, writer
    app[keys.COMMITS] = await asyncio.to_thread(CommitWatch.open, settings.database_url)
    app[keys.BUS] = build_bus(
        engine,
        app[keys.CLOCK],
        writer=writer,
        alert_policy=settings.alert_policy,
        calendar=configured_calendar(settings),
    )
    yield
    app[keys.COMMITS].close()
    if writer is not None:
        await asyncio.to_thread(writer.close)
    await engine.dispose()


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=app[keys.SETTINGS].webhook_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[keys.HTTP] = session
        yield


def build_dispatcher(
    settings: Settings,
    store: OutboxStore,
    session: aiohttp.ClientSession,
    clock: Clock,
    *,
    engine: AsyncEngine | None = None,
    writer: SqliteWriter | None = None,
) -> Dispatcher:
    """The dispatcher with its notifiers. Slack needs ``engine`` (and on SQLite ``writer``) for ``chat_threads``:
    a bot token (``SLACK_BOT_TOKEN``) selects threaded notifications, else ``SLACK_WEBHOOK_URL`` the incoming
    webhook. The Slack notifier owns an HTTP session of its own (slack-sdk cannot use ``session``); the caller
    closes it after the dispatcher stopped (``background_ctx``). In sandbox mode the registry records instead."""
    secret = settings.webhook_signing_secret
    webhook = WebhookNotifier(
        session,
        timeout=settings.webhook_timeout_seconds,
        user_agent=f"psa-chatops/{__version__}",
        signing_secret=secret.get_secret_value().encode() if secret else None,
    )
    notifiers: dict[str, Notifier] = {"webhook": webhook}

    def locale_for(destination: str) -> str:  # the channel's own language is not known yet
        return settings.default_locale

    if settings.slack_bot_token is not None:
        if engine is None:
            raise ValueError("Slack notifications need the database engine (chat_threads)")
        bot_token = settings.slack_bot_token.get_secret_value()

        async def token_for(team_id: str | None) -> str | None:  # one workspace until installations land
            return bot_token

        notifiers[SLACK_KIND] = SlackNotifier(
            engine,
            writer=writer,
            token_for=token_for,
            public_url=settings.public_url,
            locale_for=locale_for,
            base_url=settings.slack_api_url,
            timeout=settings.webhook_timeout_seconds,
        )
    elif settings.slack_webhook_url is not None:
        notifiers[SLACK_KIND] = SlackWebhookNotifier(
            settings.slack_webhook_url.get_secret_value(),
            public_url=settings.public_url,
            locale_for=locale_for,
            timeout=settings.webhook_timeout_seconds,
        )
    # --- teams notifications: bot (credentials, or TEAMS_CONNECTOR_URL anonymous) else the Workflows webhook ---
    teams = teams_notifier(settings, engine=engine, writer=writer, locale_for=locale_for)
    if teams is not None:
        notifiers[TEAMS_KIND] = teams
    # --- end teams notifications ---
    # --- calendar sync: maintenance windows -> Microsoft 365 calendar (Graph); None when not configured ---
    calendar = calendar_notifier(settings, session, engine=engine, writer=writer)
    if calendar is not None:
        notifiers[CALENDAR_KIND] = calendar
    # --- end calendar sync ---
    # --- siem forwarding: splunk:/elastic:/qradar:<name> rows to the endpoints named in PSA_SIEM_* ---
    notifiers.update(
        siem_notifiers(
            session,
            splunk=settings.siem_splunk,
            elastic=settings.siem_elastic,
            qradar=settings.siem_qradar,
            user_agent=f"psa-chatops/{__version__}",
        )
    )
    # --- end siem forwarding ---
    # --- soc close-back: soc:<provider> rows resolve alerts / isolate devices at SentinelOne and Defender ---
    soc = soc_clients(settings, session)
    if soc:
        notifiers[SOC_KIND] = SocNotifier(soc)
    # --- end soc close-back ---
    # --- email notifications: email:contacts|technicians|dispatchers|<address> rows over SMTP or Graph sendMail ---
    email = email_notifier_for(settings, session, engine=engine, writer=writer)
    if email is not None:
        notifiers[EMAIL_KIND] = email
    # --- end email notifications ---
    return Dispatcher(
        store=store,
        notifiers=NotifierRegistry(notifiers, sandbox_enabled=settings.sandbox),
        clock=clock,
        breakers=BreakerBoard(
            BreakerPolicy(
                failure_threshold=settings.breaker_failure_threshold, reset_timeout=settings.breaker_reset_seconds
            )
        ),
        policy=RetryPolicy(
            base_seconds=settings.outbox_backoff_base_seconds,
            cap_seconds=settings.outbox_backoff_cap_seconds,
            max_attempts=settings.outbox_max_attempts,
        ),
        batch=settings.dispatcher_batch,
        concurrency=settings.dispatcher_concurrency,
        lease=timedelta(seconds=settings.dispatcher_lease_seconds),
        poll_seconds=settings.dispatcher_poll_seconds,
        linger_seconds=settings.dispatcher_linger_seconds,
    )


def teams_notifier(
    settings: Settings, *, engine: AsyncEngine | None, writer: SqliteWriter | None, locale_for: Callable[[str], str]
) -> Notifier | None:
    """The ``teams:`` notifier the settings ask for: the Bot Connector with msal credentials (``TEAMS_APP_ID``,
    ``TEAMS_APP_PASSWORD``, ``TEAMS_TENANT_ID``) or anonymous against ``TEAMS_CONNECTOR_URL`` (the local fake, the
    emulator), else the Workflows webhook (``TEAMS_WORKFLOWS_URL``), else none."""
    credentials = settings.teams_app_id is not None and settings.teams_app_password is not None
    if credentials or settings.teams_connector_url:
        if engine is None:
            raise ValueError("Teams notifications need the database engine (chat_threads, teams_conversations)")
        tokens: TokenFor = anonymous
        allow: Callable[[str], bool] | None = None  # anonymous: no token that could leak to a foreign host
        if settings.teams_app_id is not None and settings.teams_app_password is not None:
            password = settings.teams_app_password.get_secret_value()
            tokens = msal_tokens(settings.teams_app_id, password, settings.teams_tenant_id)
            allow = OutboundHostValidator(enabled=True).is_allowed
        return TeamsNotifier(
            engine,
            writer=writer,
            token_for=tokens,
            allow_service_url=allow,
            connector_url=settings.teams_connector_url,
            public_url=settings.public_url,
            locale_for=locale_for,
            timeout=settings.webhook_timeout_seconds,
        )
    if settings.teams_workflows_url is not None:
        return TeamsWorkflowsNotifier(
            settings.teams_workflows_url.get_secret_value(),
            public_url=settings.public_url,
            locale_for=locale_for,
            timeout=settings.webhook_timeout_seconds,
        )
    return None


# --- email notifications ---


def mail_transport(settings: Settings, session: aiohttp.ClientSession) -> MailTransport | None:
    """SMTP (``PSA_SMTP_URL``) or Graph ``sendMail`` (``PSA_MAIL_TRANSPORT=graph``), None when not configured."""
    if settings.mail_transport == "graph":
        tenant, client, secret = settings.graph_tenant_id, settings.graph_client_id, settings.graph_client_secret
        if not (settings.graph_mail_user and tenant and client and secret):
            return None
        options = GraphMailOptions(
            mailbox=settings.graph_mail_user,
            tenant_id=tenant,
            client_id=client,
            client_secret=secret.get_secret_value(),
            api_url=settings.graph_api_url,
            authority_url=settings.graph_authority_url,
            timeout=settings.smtp_timeout_seconds,
        )
        return graph_transport(options, session)
    if settings.smtp_url is None:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    options_smtp = SmtpOptions(settings.smtp_url, password, settings.smtp_ca_file, settings.smtp_timeout_seconds)
    return smtp_transport(options_smtp)


def email_notifier_for(
    settings: Settings, session: aiohttp.ClientSession, *, engine: AsyncEngine | None, writer: SqliteWriter | None
) -> EmailNotifier | None:
    transport = mail_transport(settings, session) if settings.mail_from else None
    if transport is None or settings.mail_from is None:
        return None
    if engine is None:
        raise ValueError("e-mail notifications need the database engine (mail_sent, the directory)")
    return email_notifier(
        transport,
        engine,
        writer=writer,
        sender=settings.mail_from,
        reply_to=settings.mail_reply_to,
        subject_tag=settings.mail_subject_tag,
        public_url=settings.public_url,
        default_locale=settings.default_locale,
    )


def schedule_reports(
    scheduler: AsyncIOScheduler, work: ScheduledWork, settings: Settings, *, writer: SqliteWriter | None
) -> list[str]:
    """The report cron jobs (``PSA_REPORT_*_CRON`` in ``PSA_REPORT_TIMEZONE``), when mail can go out at all."""
    if not settings.mail_configured():
        return []
    schedules = {SLA_DIGEST: settings.report_daily_sla_cron, CUSTOMER_SUMMARY: settings.report_weekly_customer_cron}
    return add_report_jobs(scheduler, work, writer=writer, schedules=schedules, timezone=settings.report_timezone)


# --- end email notifications ---

# --- soc pollers: where polled alerts go ---


def ingest_sink(bus: MessageBus, provider: str) -> AlertSink:
    """Polled alerts take the same use-case as pushed ones, as the poller's system actor, all at once (so they are
    written in batches). An alert the domain refuses is logged and skipped (retrying cannot change the answer);
    anything else fails the poll, so the poller keeps its watermark and tries again."""

    async def sink(signals: list[AlertSignal]) -> None:
        context = system_context(f"poller:{provider}")
        outcomes = await asyncio.gather(
            *(bus.handle(IngestAlert(signal=signal), context) for signal in signals), return_exceptions=True
        )
        for signal, outcome in zip(signals, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                logger.warning("%s alert %s refused: %s", provider, signal.alert_id, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome

    return sink


# --- end soc pollers ---


def start_task(app: web.Application, coro: Coroutine[Any, Any, None], name: str) -> None:
    tasks = app[keys.BACKGROUND]
    task = asyncio.create_task(coro, name=name)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


# --- e-mail intake ---


def start_mailboxes(app: web.Application, dispatcher: Dispatcher) -> None:
    """One long-running reader per configured mailbox (IMAP IDLE, POP3, Graph); breakers on the dispatcher's board."""
    bus, engine, writer = app[keys.BUS], app[keys.ENGINE], app[keys.WRITER]
    for name, runner in mailbox_runners(app[keys.SETTINGS].mailboxes, engine, writer, bus, dispatcher.breakers).items():
        start_task(app, runner.run(), name)


# --- end e-mail intake ---


async def background_ctx(app: web.Application) -> AsyncIterator[None]:
    """The dispatcher and the scheduler, unless this process is web-only (``PSA_RUN_BACKGROUND=0``)."""
    settings = app[keys.SETTINGS]
    app[keys.BACKGROUND] = set()
    store = OutboxStore(app[keys.ENGINE], writer=app[keys.WRITER])
    dispatcher = build_dispatcher(
        settings, store, app[keys.HTTP], app[keys.CLOCK], engine=app[keys.ENGINE], writer=app[keys.WRITER]
    )
    app[keys.DISPATCHER] = dispatcher
    deliveries = app[keys.METRICS].deliveries
    dispatcher.stats.observers.append(lambda kind, outcome: deliveries.labels(kind, outcome).inc())
    app[keys.BUS].after_commit.append(lambda _events: dispatcher.wake())
    scheduler = None
    if settings.run_background:
        start_task(app, dispatcher.run(), "outbox-dispatcher")
        work = ScheduledWork(app[keys.BUS], app[keys.ENGINE], app[keys.CLOCK])
        start_task(app, work.run(), "scheduled-work")
        scheduler = build_scheduler(work, every_seconds=settings.sla_sweep_seconds)
        # --- soc pollers: SentinelOne threats / Defender alerts -> the ingest use-case, one replica at a time ---
        sinks = partial(ingest_sink, app[keys.BUS])
        for name, poll in soc_pollers(settings, app[keys.HTTP], app[keys.ENGINE], app[keys.WRITER], sinks).items():
            add_interval_job(scheduler, work, name, poll, every_seconds=settings.security_poll_seconds)
        # --- end soc pollers ---
        # --- scheduled reports: queued as email rows, only when mail can go out ---
        schedule_reports(scheduler, work, settings, writer=app[keys.WRITER])
        # --- end scheduled reports ---
        start_mailboxes(app, dispatcher)  # e-mail intake
        scheduler.start()
    yield
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    tasks: set[asyncio.Task[None]] = app[keys.BACKGROUND]
    for task in list(tasks):
        task.cancel()
    for task in list(tasks):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if SLACK_KIND in dispatcher.notifiers.kinds():  # in sandbox mode the recorder answers: nothing to close
        slack = dispatcher.notifiers.for_destination(f"{SLACK_KIND}:shutdown")
        if isinstance(slack, SlackNotifier | SlackWebhookNotifier):
            await slack.close(grace=2.0)  # a moment for pending root edits; their rows are delivered already
    if TEAMS_KIND in dispatcher.notifiers.kinds():  # in sandbox mode the recorder answers: nothing to close
        teams = dispatcher.notifiers.for_destination(f"{TEAMS_KIND}:shutdown")
        if isinstance(teams, TeamsNotifier | TeamsWorkflowsNotifier):
            await teams.close(grace=2.0)  # a moment for pending root updates; their rows are delivered already
    await close_siem(dispatcher.notifiers)  # the QRadar syslog connections
