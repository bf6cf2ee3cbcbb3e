"""The aiohttp application: health, readiness, metrics, problem+json errors and request ids."""

from __future__ import annotations

from pathlib import Path

from pytest_aiohttp import AiohttpClient

from psa_chatops.bot.app import create_app
from psa_chatops.bot.settings import Settings
from tests.conftest import FrozenClock


def sandbox_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'psa.db'}", sandbox=True, sla_sweep_seconds=3600)


async def test_health_ready_and_metrics(aiohttp_client: AiohttpClient, tmp_path: Path, clock: FrozenClock) -> None:
    client = await aiohttp_client(create_app(sandbox_settings(tmp_path), clock=clock))
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 200
    assert body["ready"] is True
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["dispatcher"]["running"] is True
    metrics = await (await client.get("/metrics")).text()
    assert 'psa_outbox_rows{status="pending"} 0.0' in metrics
    assert 'psa_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in metrics


async def test_unknown_route_is_problem_json_with_request_id(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FrozenClock
) -> None:
    client = await aiohttp_client(create_app(sandbox_settings(tmp_path), clock=clock))
    response = await client.get("/nope", headers={"X-Request-Id": "abc-123"})
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert (await response.json())["status"] == 404
    assert response.headers["X-Request-Id"] == "abc-123"
    forged = await client.get("/healthz", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert forged.headers["X-Request-Id"] != "<script>alert(1)</script>"
    assert len(forged.headers["X-Request-Id"]) == 32


async def test_web_only_process_is_ready_without_a_dispatcher(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = sandbox_settings(tmp_path).model_copy(update={"run_background": False})
    client = await aiohttp_client(create_app(settings, clock=clock))
    body = await (await client.get("/readyz")).json()
    assert body["ready"] is True
    assert body["checks"]["dispatcher"] == {"ok": True, "running": False, "in_this_process": False}


async def test_privacy_and_terms_pages_in_both_languages(
    aiohttp_client: AiohttpClient, tmp_path: Path, clock: FrozenClock
) -> None:
    """The Teams app package links to them (privacyUrl, termsOfUseUrl)."""
    client = await aiohttp_client(create_app(sandbox_settings(tmp_path), clock=clock))
    english = await client.get("/privacy")
    assert english.status == 200
    assert "IT service provider" in await english.text()
    german = await client.get("/terms", headers={"Accept-Language": "de-DE"})
    assert "Dienstleister" in await german.text()
