"""Every shared object of the running service, as a typed ``web.AppKey`` (no globals, no string keys)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from psa_chatops.bot.metrics import Metrics
from psa_chatops.bot.settings import Settings
from psa_chatops.bot.worker import Dispatcher
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.handlers.ports import Clock
from psa_chatops.storage.commit_watch import CommitWatch
from psa_chatops.storage.sqlite_writer import SqliteWriter

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
BUS = web.AppKey("bus", MessageBus)
METRICS = web.AppKey("metrics", Metrics)
HTTP = web.AppKey("http", aiohttp.ClientSession)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
BACKGROUND: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("background")
WRITER: web.AppKey[SqliteWriter | None] = web.AppKey("sqlite_writer")
COMMITS = web.AppKey("commit_watch", CommitWatch)  # has anything been committed since? (chat read caches)
ACTOR_ID: web.RequestKey[str] = web.RequestKey("actor_id")  # who made the request, for the access log
