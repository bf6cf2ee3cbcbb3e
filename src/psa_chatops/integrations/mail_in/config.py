"""Mailboxes to read, from ``PSA_MAILBOXES``: a JSON list of objects, each with a URL saying where and how.

    PSA_MAILBOXES='[
      {"url": "imaps://support@mail.example.com:993/INBOX", "password_env": "SUPPORT_MAIL_PASSWORD",
       "customer": "CUST-1", "queue": "helpdesk", "after": "move:Processed"},
      {"url": "pop3s://alerts@mail.example.com", "password_file": "/run/secrets/alerts-mail"},
      {"url": "graph://support@contoso.onmicrosoft.com", "tenant": "<tenant id>", "client_id": "<app id>",
       "client_secret_env": "GRAPH_MAIL_SECRET", "after": "move:Processed"}]'

Schemes: ``imap`` (plain, or STARTTLS with ``"starttls": true``), ``imaps``, ``pop3``, ``pop3s``, ``graph``. The
path of an IMAP URL is the folder (default INBOX). Secrets never sit in the JSON itself: ``password_env`` /
``client_secret_env`` name an environment variable, ``password_file`` / ``client_secret_file`` a file (Docker and
Kubernetes secrets); a password in the URL is refused. ``after`` says how a processed message is marked: ``flag``
(the keyword ``$PsaProcessed`` and \\Seen; ``flag:<keyword>`` for another), ``move:<folder>`` or ``delete``. POP3
has no flags or folders: there a message is always deleted after its commit. Unknown keys are errors.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from psa_chatops.integrations.mail.extract import DEFAULT_TICKET_TAG

Scheme = Literal["imap", "imaps", "pop3", "pop3s", "graph"]
_DEFAULT_PORTS = {"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}
_KEYWORD = re.compile(r"^\$?[A-Za-z0-9_.-]{1,64}$")
DEFAULT_KEYWORD = "$PsaProcessed"


@dataclass(frozen=True)
class After:
    """How a processed message is marked on the server."""

    action: Literal["flag", "move", "delete"]
    target: str = ""  # the keyword (flag) or the folder (move)


class MailboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
    password_env: str | None = None
    password_file: str | None = None
    starttls: bool = False
    ca_file: str | None = None  # a private CA for a self-hosted mail server
    verify: bool = True
    customer: str | None = Field(default=None, max_length=64)  # where mail of unknown senders goes (else triage)
    queue: str | None = Field(default=None, max_length=64)  # tagged ``queue:<name>`` on new tickets
    after: str = "flag"
    idle: bool = True  # IMAP IDLE when the server offers it; polling otherwise
    poll_seconds: float = Field(default=60.0, ge=1, le=3600)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    ticket_tag: str = DEFAULT_TICKET_TAG
    max_new_tickets: int = Field(default=2, ge=0, le=1000)  # per sender and subject in the window; 0: no limit
    rate_window_seconds: float = Field(default=300.0, gt=0, le=86400)
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=0, le=512 * 1024 * 1024)
    own_addresses: tuple[str, ...] = ()  # our notification senders: their mail is never a ticket
    # Microsoft Graph
    tenant: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    graph_url: str = "https://graph.microsoft.com/v1.0"
    authority_url: str = "https://login.microsoftonline.com"

    @field_validator("url")
    @classmethod
    def _mail_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("imap", "imaps", "pop3", "pop3s", "graph"):
            raise ValueError(f"scheme must be imap, imaps, pop3, pop3s or graph, got {parts.scheme!r}")
        if parts.password is not None:
            raise ValueError("must not carry a password; use password_env or password_file")
        if not parts.hostname or not parts.username:
            raise ValueError(f"must name a user and a host ({parts.scheme}://user@host), got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value

    @field_validator("after")
    @classmethod
    def _after(cls, value: str) -> str:
        action, _, target = value.partition(":")
        if action == "delete" and not target:
            return value
        if action == "flag" and (not target or _KEYWORD.match(target)):
            return value
        if action == "move" and target.strip() and '"' not in target:
            return value
        raise ValueError(f"must be flag, flag:<keyword>, move:<folder> or delete, got {value!r}")

    @field_validator("ticket_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"is not a regular expression: {exc}") from exc
        if compiled.groups < 1:
            raise ValueError("needs a group that captures the ticket number")
        return value

    @model_validator(mode="after")
    def _complete(self) -> MailboxConfig:
        if self.scheme == "graph":
            if not (self.tenant and self.client_id and (self.client_secret_env or self.client_secret_file)):
                raise ValueError("a graph:// mailbox needs tenant, client_id and client_secret_env or _file")
        elif not (self.password_env or self.password_file):
            raise ValueError(f"{self.url} needs password_env or password_file")
        if self.scheme.startswith("pop3") and self.after != "delete":
            raise ValueError("POP3 can only delete processed messages: set after to delete")
        return self

    @property
    def scheme(self) -> Scheme:
        scheme: Scheme = urlsplit(self.url).scheme  # type: ignore[assignment]  # checked by _mail_url
        return scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or _DEFAULT_PORTS.get(self.scheme, 0)

    @property
    def user(self) -> str:
        return unquote(urlsplit(self.url).username or "")

    @property
    def folder(self) -> str:
        return unquote(urlsplit(self.url).path.strip("/")) or "INBOX"

    @property
    def label(self) -> str:
        """The mailbox's name in logs, records and cursors: ``name``, else ``user@host`` (never a secret)."""
        return self.name or f"{self.user}@{self.host}"

    @property
    def marking(self) -> After:
        action, _, target = self.after.partition(":")
        if action == "flag":
            return After("flag", target or DEFAULT_KEYWORD)
        if action == "move":
            return After("move", target)
        return After("delete")

    @property
    def tls(self) -> bool:
        return self.scheme in ("imaps", "pop3s")

    def password(self) -> SecretStr:
        return _secret(self.password_env, self.password_file, f"the password of {self.label}")

    def client_secret(self) -> SecretStr:
        return _secret(self.client_secret_env, self.client_secret_file, f"the client secret of {self.label}")


class MailSecretError(ValueError):
    """A configured secret cannot be read (variable unset, file missing); the message names where, not what."""


def _secret(env: str | None, file: str | None, what: str) -> SecretStr:
    if env:
        value = os.environ.get(env)
        if not value:
            raise MailSecretError(f"{what}: the environment variable {env} is not set")
        return SecretStr(value)
    if file:
        try:
            return SecretStr(Path(file).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise MailSecretError(f"{what}: cannot read {file} ({exc.strerror})") from exc
    raise MailSecretError(f"{what} is not configured")


def unique_labels(mailboxes: list[MailboxConfig]) -> list[MailboxConfig]:
    """Two mailboxes with one label would share a cursor and their records: refuse that at start-up."""
    seen: set[str] = set()
    for mailbox in mailboxes:
        if mailbox.label in seen:
            raise ValueError(f"two mailboxes are named {mailbox.label!r}; give one a distinct name")
        seen.add(mailbox.label)
    return mailboxes
