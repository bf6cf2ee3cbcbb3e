"""Building the e-mail notifier from plain values (the composition root in ``bot/`` passes the settings'
fields): the transport (SMTP or Graph) and the stores around it."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.integrations.calendar_graph import MsalTokenProvider
from psa_chatops.integrations.smtp.config import parse_smtp_url
from psa_chatops.integrations.smtp.graph import GraphMailTransport
from psa_chatops.integrations.smtp.notifier import EmailNotifier
from psa_chatops.integrations.smtp.people import SqlPeople
from psa_chatops.integrations.smtp.transport import MailTransport, SmtpTransport
from psa_chatops.storage.mail_sent import MailSentStore
from psa_chatops.storage.sqlite_writer import SqliteWriter


@dataclass(frozen=True)
class SmtpOptions:
    url: str
    password: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class GraphMailOptions:
    mailbox: str
    tenant_id: str
    client_id: str
    client_secret: str
    api_url: str
    authority_url: str
    timeout: float = 30.0


def smtp_transport(options: SmtpOptions) -> SmtpTransport:
    return SmtpTransport(
        parse_smtp_url(options.url), password=options.password, ca_file=options.ca_file, timeout=options.timeout
    )


def graph_transport(options: GraphMailOptions, session: aiohttp.ClientSession) -> GraphMailTransport:
    tokens = MsalTokenProvider(
        authority_url=options.authority_url,
        tenant_id=options.tenant_id,
        client_id=options.client_id,
        client_secret=options.client_secret,
        timeout=options.timeout,
    )
    return GraphMailTransport(
        session, tokens=tokens, mailbox=options.mailbox, api_url=options.api_url, timeout=options.timeout
    )


def email_notifier(
    transport: MailTransport,
    engine: AsyncEngine,
    *,
    writer: SqliteWriter | None,
    sender: str,
    reply_to: str | None,
    subject_tag: str,
    public_url: str,
    default_locale: str,
) -> EmailNotifier:
    return EmailNotifier(
        transport,
        MailSentStore(engine, writer=writer),
        SqlPeople(engine),
        sender=sender,
        reply_to=reply_to,
        subject_tag=subject_tag,
        public_url=public_url,
        default_locale=default_locale,
    )
