"""/docs: Swagger UI from the installed assets, offline and under a strict CSP.

Plain HTTP checks of the page, its init script and the allow-listed assets; then a real browser (Debian's chromium,
driven by Playwright's sync API in a worker thread while the service runs on the test's loop) authorises with a
sandbox key and runs "Try it out" on GET /api/v1/tickets, with every non-loopback request aborted and recorded.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from playwright.sync_api import Locator, Page, Route, sync_playwright
from pytest_aiohttp import AiohttpClient, AiohttpServer

from psa_chatops.bot import keys
from psa_chatops.bot.api import docs
from psa_chatops.bot.api.app import APIS
from psa_chatops.bot.app import create_app
from tests.bot.api.conftest import Api, api_settings
from tests.fixtures_directory import seed_directory

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
REFERENCE = re.compile(r'(?:href|src)="([^"]+)"')
TICKET_TITLE = "Docs-Test: Drucker im 2. OG druckt nicht"
EXPECTED_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".html": "text/html",
}


async def fetch_page(api: Api, language: str = "en") -> tuple[str, Any]:
    response = await api.client.get("/docs", headers={"Accept-Language": language})
    assert response.status == 200
    return await response.text(), response


async def test_page_has_a_strict_csp_and_links_only_to_its_own_assets(api: Api) -> None:
    page, response = await fetch_page(api)
    assert response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    references = REFERENCE.findall(page)
    assert references
    for reference in references:
        path = reference.split("?", 1)[0]
        assert path.startswith(f"{docs.STATIC_PATH}/") or path == docs.INIT_PATH, reference
    assert "<script>" not in page  # the init code is a served file: script-src 'self' holds
    assert "onload=" not in page


async def test_every_referenced_asset_is_served_with_its_content_type(api: Api) -> None:
    page, _ = await fetch_page(api)
    references = [r for r in REFERENCE.findall(page) if r.startswith(docs.STATIC_PATH)]
    names = {r.split("?", 1)[0].rsplit("/", 1)[1] for r in references}
    assert names == set(docs.ASSETS) - {"oauth2-redirect.html"}
    for reference in [*references, f"{docs.STATIC_PATH}/oauth2-redirect.html"]:
        response = await api.client.get(reference)
        assert response.status == 200, reference
        suffix = "." + reference.split("?", 1)[0].rsplit(".", 1)[1]
        assert response.content_type == EXPECTED_TYPES[suffix], reference
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert len(await response.read()) > 100
    init = await api.client.get(docs.INIT_PATH)
    assert init.status == 200
    assert init.content_type == "text/javascript"


async def test_versioned_assets_are_immutable_and_text_is_gzipped(api: Api) -> None:
    page, _ = await fetch_page(api)
    bundle = next(r for r in REFERENCE.findall(page) if "swagger-ui-bundle.js" in r)
    assert "?v=" in bundle
    zipped = await api.client.get(bundle, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert "immutable" in zipped.headers["Cache-Control"]
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    raw = await api.client.get(bundle, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in raw.headers
    assert gzip.decompress(await zipped.read()) == await raw.read()
    unversioned = await api.client.get(bundle.split("?", 1)[0])
    assert unversioned.headers["Cache-Control"] == "no-cache"


async def test_unknown_asset_names_are_404(api: Api) -> None:
    for name in (
        "swagger-editor.js",
        "LICENSE",
        "swagger-initializer.js",
        "..%2F__init__.py",
        "swagger-ui.js.map",
        "x.js",
    ):
        response = await api.client.get(f"{docs.STATIC_PATH}/{name}")
        assert response.status == 404, name
    traversal = await api.client.get(f"{docs.STATIC_PATH}/../../../etc/passwd")
    assert traversal.status == 404


async def test_page_and_init_script_reference_no_other_host(api: Api) -> None:
    for language in ("en", "de"):
        page, _ = await fetch_page(api, language)
        assert "http" not in page.lower()
        assert "//" not in page
    init = await (await api.client.get(docs.INIT_PATH)).text()
    assert "http" not in init.lower()
    assert '"validatorUrl": null' in init


async def test_init_script_offers_every_mounted_version(api: Api) -> None:
    init = await (await api.client.get(docs.INIT_PATH)).text()
    config = json.loads(re.search(r"var config = (\{.*?\});\n", init, flags=re.DOTALL)[1])  # type: ignore[index]
    mounted = api.app[APIS]
    expected = [
        {"url": f"{root}/openapi.json", "name": f"{a.version} (beta)" if a.beta else a.version}
        for root, a in mounted.items()
    ]
    assert config["urls"] == expected
    assert config["urls.primaryName"] in {u["name"] for u in expected if "(beta)" not in u["name"]}
    assert config["persistAuthorization"] is True
    assert config["tryItOutEnabled"] is True
    assert config["displayRequestDuration"] is True
    for entry in expected:
        assert (await api.client.get(entry["url"])).status == 200, entry


async def test_title_and_intro_follow_accept_language(api: Api) -> None:
    english, _ = await fetch_page(api, "en-GB")
    german, response = await fetch_page(api, "de-DE,de;q=0.9")
    assert "<title>psa-chatops API documentation</title>" in english
    assert "Authorise with an API key" in english
    assert '<html lang="de">' in german
    assert "<title>API-Dokumentation von psa-chatops</title>" in german
    assert "Mit einem API-Schlüssel anmelden" in german
    assert response.headers["Vary"] == "Accept-Language"


async def test_oauth2_redirect_page_may_run_only_its_own_inline_script(api: Api) -> None:
    response = await api.client.get(f"{docs.STATIC_PATH}/oauth2-redirect.html")
    csp = response.headers["Content-Security-Policy"]
    assert "'sha256-" in csp
    assert "'unsafe-inline'" not in csp
    assert "default-src 'none'" in csp


async def test_missing_swagger_assets_answer_503_not_a_broken_page(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(docs, "static_dir", lambda: tmp_path / "nowhere")
    for path in (docs.DOCS_PATH, f"{docs.STATIC_PATH}/swagger-ui.css"):
        response = await api.client.get(path)
        assert response.status == 503, path
        assert "Swagger UI asset" in (await response.json())["title"]


# --- the browser ---------------------------------------------------------------------------------------------------


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium (``scripts/ensure-chromium`` installs it); CI must have it, a laptop may skip."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing under CI; run scripts/ensure-chromium before the tests")
    pytest.skip(f"{CHROMIUM} is missing (run scripts/ensure-chromium to install Debian's chromium)")


@dataclass
class BrowserRun:
    """What the browser saw, collected in the worker thread and asserted on the test's thread."""

    title: str = ""
    status: str = ""
    body: str = ""
    authorization: str | None = None
    oauth2_status: int = 0
    oauth2_authorization: str | None = None
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)


REPORT_CSP = (
    "document.addEventListener('securitypolicyviolation', e => "
    "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample))"
)
NOT_LOOPBACK = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost|\[::1\])[:/])[a-z-]+://", re.IGNORECASE)
LIST_REQUEST = re.compile(r"/api/v1/tickets\?")


def note_csp_violation(run: BrowserRun, text: str) -> None:
    if "Content Security Policy" in text or text.startswith("CSP violation"):
        run.csp_violations.append(text)


def auth_container(page: Page, scheme: str) -> Locator:
    """The Authorize dialog's form for one security scheme (its heading starts with the scheme's name)."""
    heading = page.locator("h4", has_text=re.compile(rf"^\s*{scheme}\b"))
    return page.locator(".modal-ux .auth-container").filter(has=heading)


def authorise_with_bearer(page: Page, key: str) -> None:
    page.locator(".auth-wrapper button.authorize").click()
    bearer = auth_container(page, "bearer")
    bearer.locator("input#auth-bearer-value").fill(key)
    bearer.get_by_role("button", name="Apply credentials").click()
    bearer.get_by_role("button", name="Remove authorization").wait_for()  # "Logout": shown once authorised
    bearer.get_by_role("button", name="Close").click()
    page.locator(".modal-ux").wait_for(state="detached")


def authorise_with_oauth2_instead(page: Page, key: str) -> None:
    """Log the bearer out, then client credentials: client_id = the key's id, client_secret = the whole key."""
    page.locator(".auth-wrapper button.authorize").click()
    auth_container(page, "bearer").get_by_role("button", name="Remove authorization").click()
    oauth2 = auth_container(page, "oauth2")
    oauth2.locator("#client_id_clientCredentials").fill(key.removeprefix("psa_")[:10])
    oauth2.locator("#client_secret_clientCredentials").fill(key)
    oauth2.locator("label[for='tickets:read-clientCredentials-checkbox-oauth2']").click()
    with page.expect_response(re.compile(r"/oauth/token$")) as token:
        oauth2.get_by_role("button", name="Apply given OAuth2 credentials").click()
    assert token.value.status == 200, token.value.text()
    oauth2.get_by_role("button", name="Remove authorization").wait_for()
    oauth2.get_by_role("button", name="Close").click()
    page.locator(".modal-ux").wait_for(state="detached")


def drive_browser(executable: Path, base_url: str, key: str) -> BrowserRun:
    """Open /docs, Authorize → bearer with ``key``, expand GET /tickets, Try it out → Execute; then the same with an
    OAuth2 token. Blocking (Playwright's sync API): the test runs it in a worker thread."""
    run = BrowserRun()

    def block(route: Route) -> None:
        run.blocked.append(route.request.url)
        route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            context = browser.new_context(locale="en-GB")
            context.set_default_timeout(10_000)
            context.route(NOT_LOOPBACK, block)
            context.add_init_script(REPORT_CSP)
            page = context.new_page()
            page.on("request", lambda request: run.requests.append(request.url))
            page.on("console", lambda message: note_csp_violation(run, message.text))
            page.goto(f"{base_url}/docs")
            run.title = page.title()

            authorise_with_bearer(page, key)
            operation = page.locator("#operations-tickets-listTickets")
            operation.locator(".opblock-summary-control").click()
            try_it_out = operation.get_by_role("button", name="Try it out")
            if try_it_out.is_visible():  # tryItOutEnabled opens operations in try-it-out mode already
                try_it_out.click()
            with page.expect_request(LIST_REQUEST) as sent:
                operation.get_by_role("button", name="Execute").click()
            run.authorization = sent.value.headers.get("authorization")
            live = operation.locator(".live-responses-table .response")
            live.locator(".response-col_status").wait_for()
            run.status = live.locator(".response-col_status").inner_text().strip()
            run.body = live.locator(".response-col_description pre").first.inner_text()

            authorise_with_oauth2_instead(page, key)
            with page.expect_response(LIST_REQUEST) as answered:
                operation.get_by_role("button", name="Execute").click()
            run.oauth2_status = answered.value.status
            run.oauth2_authorization = answered.value.request.headers.get("authorization")
        finally:
            browser.close()
    return run


async def sandbox_key(client: TestClient[Any, Any]) -> str:
    """A sandbox developer token, the way a visitor of the sandbox gets one."""
    response = await client.post("/api/v1/sandbox/tokens")
    assert response.status == 201, await response.text()
    body = await response.json()
    key: str = body["key"]
    assert key.startswith(f"psa_{body['id']}_")
    assert {"tickets:read", "tickets:write"} <= set(body["scopes"])
    return key


async def test_browser_authorises_with_a_sandbox_key_and_tries_out_list_tickets(
    chromium: Path, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, tmp_path: Path, closed_port: int
) -> None:
    base_url = f"http://127.0.0.1:{closed_port}"  # public_url must be the real origin: OpenAPI servers point at it
    app = create_app(api_settings(tmp_path, public_url=base_url))
    server = await aiohttp_server(app, port=closed_port)
    assert str(server.make_url("/")).rstrip("/") == base_url
    await seed_directory(app[keys.ENGINE])
    client = await aiohttp_client(server)
    key = await sandbox_key(client)
    opened = await client.post(
        "/api/v1/tickets",
        json={"title": TICKET_TITLE, "customer_id": "CUST-789"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert opened.status == 201, await opened.text()

    run = await asyncio.to_thread(drive_browser, chromium, base_url, key)

    assert run.title == "psa-chatops API documentation"
    assert run.authorization == f"Bearer {key}"
    assert run.status == "200"
    assert TICKET_TITLE in run.body
    assert run.oauth2_status == 200
    assert (run.oauth2_authorization or "").startswith("Bearer ey")  # a JWT from /oauth/token, not the key
    assert run.blocked == []
    assert run.csp_violations == []
    assert f"{base_url}/docs/init.js?v=" in " ".join(run.requests)
    for url in run.requests:
        parts = urlsplit(url)
        assert parts.scheme in {"data", "blob"} or parts.hostname in LOOPBACK, url
