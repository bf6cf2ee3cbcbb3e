"""The Web API client: ``SLACK_API_URL`` points it at a loopback fake in tests (slack-sdk's ``base_url``)."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from psa_chatops.bot.settings import Settings

BOLT: web.AppKey[AsyncApp | None] = web.AppKey("slack_bolt")  # None: Slack is not configured


def web_client(settings: Settings) -> AsyncWebClient:
    """No shared ``aiohttp`` session: Bolt deep-copies the client into every lazy listener's request, and a live
    session cannot be copied; slack-sdk then opens a short-lived session per call."""
    if settings.slack_api_url:
        return AsyncWebClient(base_url=settings.slack_api_url)
    return AsyncWebClient()
