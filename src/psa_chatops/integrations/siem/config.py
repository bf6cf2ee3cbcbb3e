"""Where each named SIEM destination lives: the models behind ``PSA_SIEM_SPLUNK``, ``..._ELASTIC``, ``..._QRADAR``.

Each variable is a JSON object from the destination's name (the ``<name>`` of ``splunk:<name>``) to its settings,
e.g. ``PSA_SIEM_SPLUNK='{"main": {"url": "https://splunk.example:8088", "token": "..."}}'``. Unknown keys are
errors (a typo must not silently drop a setting); tokens, API keys and passwords are ``SecretStr``.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

from psa_chatops.integrations.siem.leef_format import TAB, check_delimiter

DestinationName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
_INDEX = re.compile(r"^[a-z0-9][a-z0-9_.+-]{0,254}$")


class _Destination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(default=100, ge=1, le=10_000, description="most events in one request / write")
    linger_ms: float = Field(default=5.0, ge=0, le=1000, description="how long a batch waits for more events")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)


class _HttpDestination(_Destination):
    url: str
    ca_file: str | None = None  # a private CA for a self-hosted Splunk or Elasticsearch
    verify: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")


class SplunkDestination(_HttpDestination):
    """Splunk HTTP Event Collector: ``url`` is the collector's base (``https://host:8088``) or its full
    ``/services/collector/event`` endpoint."""

    token: SecretStr
    index: str | None = None  # None: the token's default index
    source: str = "psa-chatops"
    sourcetype: str = "psa:event"
    host: str | None = None  # the event's host; default: this machine's name


class ElasticDestination(_HttpDestination):
    """Elasticsearch (or Elastic Cloud): ``url`` is the cluster endpoint; auth by API key or basic auth."""

    index: str = "logs-psa_chatops.events-default"  # a data stream name fits the default logs-*-* template
    api_key: SecretStr | None = None  # the base64 "id:api_key" Kibana shows as the encoded key
    username: str | None = None
    password: SecretStr | None = None

    @field_validator("index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        if not _INDEX.fullmatch(value):
            raise ValueError("an Elasticsearch index is lowercase letters, digits, _ . + - (no spaces, no *)")
        return value

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> ElasticDestination:
        if self.api_key is not None and (self.username or self.password):
            raise ValueError("give api_key or username/password, not both")
        if bool(self.username) != (self.password is not None):
            raise ValueError("basic auth needs both username and password")
        return self


class QRadarDestination(_Destination):
    """A QRadar event collector (or any syslog receiver) over TCP, optionally TLS: LEEF 2.0 in RFC 5424 frames."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)  # None: 6514 with TLS, 514 without
    tls: bool = False
    ca_file: str | None = None
    verify: bool = True
    server_name: str | None = None  # the name the certificate must carry; default: host
    hostname: str | None = None  # the syslog HOSTNAME; default: this machine's name
    app_name: str = "psa-chatops"
    facility: int = Field(default=16, ge=0, le=23)  # local0
    vendor: str = "PSA ChatOps"
    product: str = "psa-chatops"
    delimiter: str = TAB

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        check_delimiter(value)
        return value

    @property
    def effective_port(self) -> int:
        return self.port or (6514 if self.tls else 514)
