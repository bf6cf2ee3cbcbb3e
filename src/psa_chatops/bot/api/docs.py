"""Swagger UI at ``/docs``, served from the assets of the installed ``swagger-ui-py`` package.

Why local assets and a strict CSP: the docs must work on an air-gapped sandbox, and a page that lets people paste API
keys must not load a single byte from another host (no CDN, no validator badge). So the page and its init script
come from here, the static files from an allow-list (never a path taken from the request), and every version mounted
by ``add_api`` (``app[APIS]``) is offered in the definition selector.

The files are read once, on the first docs request, in a worker thread (never on the event loop), and kept in memory
with a gzip copy of the text assets.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import html
import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from psa_chatops.bot import keys
from psa_chatops.bot.api.app import APIS
from psa_chatops.bot.middlewares import request_locale
from psa_chatops.core.errors import N_
from psa_chatops.i18n import translate

DOCS_PATH: Final = "/docs"
STATIC_PATH: Final = "/docs/static"
INIT_PATH: Final = "/docs/init.js"

_JS, _CSS, _HTML, _PNG = "text/javascript", "text/css", "text/html", "image/png"
# The only files served: what the page and the OAuth2 redirect need, with their content types.
ASSETS: Final[Mapping[str, str]] = {
    "swagger-ui-bundle.js": _JS,
    "swagger-ui-standalone-preset.js": _JS,
    "swagger-ui.css": _CSS,
    "index.css": _CSS,
    "favicon-32x32.png": _PNG,
    "favicon-16x16.png": _PNG,
    "oauth2-redirect.html": _HTML,
}
IMMUTABLE: Final = "public, max-age=86400, immutable"

TITLE: Final = N_("psa-chatops API documentation")
INTRO: Final = N_(
    "Authorise with an API key (Authorize → bearer: paste the whole psa_… key; or X-API-Key) or with OAuth2 client "
    "credentials (client_id: the 10 characters after psa_, client_secret: the whole key; tick only scopes the key "
    "has), then open an operation and use “Try it out”."
)

_STYLE: Final = (
    ".psa-intro{margin:0;padding:10px 20px;font:14px/1.4 sans-serif;color:#3b4151;background:#eef3f8;"
    "border-bottom:1px solid #d8dde7}"
)


def _sha256(source: str) -> str:
    """A CSP hash source for an inline script or style."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


_STYLE_HASH: Final = _sha256(_STYLE)

_PAGE: Final = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<link rel="stylesheet" href="{static}/swagger-ui.css?v={v}">
<link rel="stylesheet" href="{static}/index.css?v={v}">
<link rel="icon" type="image/png" href="{static}/favicon-32x32.png?v={v}" sizes="32x32">
<link rel="icon" type="image/png" href="{static}/favicon-16x16.png?v={v}" sizes="16x16">
<style>{style}</style>
</head>
<body>
<p class="psa-intro">{intro}</p>
<div id="swagger-ui"></div>
<script src="{static}/swagger-ui-bundle.js?v={v}"></script>
<script src="{static}/swagger-ui-standalone-preset.js?v={v}"></script>
<script src="{init}?v={v}"></script>
</body>
</html>
"""

# SwaggerUIBundle is started from a served file, not inline, so that the page's CSP can say script-src 'self'.
_INIT: Final = """"use strict";
window.addEventListener("load", function () {
  var config = %s;
  config.dom_id = "#swagger-ui";
  config.oauth2RedirectUrl = new URL("%s/oauth2-redirect.html", window.location.href).href;
  config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];
  config.plugins = [SwaggerUIBundle.plugins.DownloadUrl];
  config.layout = "StandaloneLayout";
  window.ui = SwaggerUIBundle(config);
});
"""


@dataclass(frozen=True)
class Asset:
    """One allow-listed file in memory; ``gzipped`` only for text, where it pays (the bundle shrinks ~3.5x)."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    charset: str | None
    csp: str | None = None


@dataclass(frozen=True)
class Bundle:
    """What the installed swagger-ui-py offers: its version (the cache-buster), the allow-listed files, and the CSP
    hashes of the constant ``<style>`` blocks its scripts insert (the topbar logo SVG carries one)."""

    version: str
    assets: Mapping[str, Asset]
    style_hashes: tuple[str, ...] = ()


class DocsUnavailableError(RuntimeError):
    """swagger-ui-py is not installed (or lacks a file): /docs answers 503 instead of a broken page."""


class DocsAssets:
    """Loads the bundle once per app, lazily: most apps (and most tests) never serve /docs."""

    def __init__(self) -> None:
        self._bundle: Bundle | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Bundle:
        if self._bundle is None:
            async with self._lock:
                if self._bundle is None:
                    try:
                        self._bundle = await asyncio.to_thread(load_bundle)
                    except DocsUnavailableError as exc:
                        raise web.HTTPServiceUnavailable(reason=str(exc)) from exc
        return self._bundle


DOCS: Final = web.AppKey("docs_assets", DocsAssets)


def add_docs(app: web.Application) -> None:
    """Register /docs, /docs/init.js and /docs/static/{name} on the root app (outside the API gateway)."""
    app[DOCS] = DocsAssets()
    app.router.add_get(DOCS_PATH, page)
    app.router.add_get(DOCS_PATH + "/", redirect_to_page)
    app.router.add_get(INIT_PATH, init_script)
    app.router.add_get(STATIC_PATH + "/{name}", static)


def static_dir() -> Path:
    """The package's ``static/`` folder, found without importing ``swagger_ui`` (that would pull in jinja2 and yaml)."""
    spec = importlib.util.find_spec("swagger_ui")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise DocsUnavailableError("Swagger UI assets are not installed (pip install swagger-ui-py)")
    return Path(locations[0]) / "static"


def load_bundle() -> Bundle:
    """Read every allow-listed file (blocking: run it in a thread)."""
    folder = static_dir()
    try:
        version = importlib.metadata.version("swagger-ui-py")
    except importlib.metadata.PackageNotFoundError:
        version = "0"
    assets: dict[str, Asset] = {}
    for name, content_type in ASSETS.items():
        try:
            body = (folder / name).read_bytes()
        except OSError as exc:
            raise DocsUnavailableError(f"Swagger UI asset {name} is missing ({exc.strerror})") from exc
        text = content_type != _PNG
        assets[name] = Asset(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0) if text else None,
            content_type=content_type,
            charset="utf-8" if text else None,
            csp=redirect_csp(body) if content_type == _HTML else None,
        )
    return Bundle(version=version, assets=assets, style_hashes=bundled_style_hashes(assets))


# React's createElement("style", null, "<constant css>") in the minified bundles: fixed text we ship ourselves.
_BUNDLED_STYLE = re.compile(r'createElement\("style",null,"([^"\\]*)"\)')


def bundled_style_hashes(assets: Mapping[str, Asset]) -> tuple[str, ...]:
    """Hashes of the style literals in the served scripts, so CSP can allow exactly those and no other inline style
    (without them the Swagger logo loses its colours; the browser test fails on any CSP violation)."""
    found = {
        css
        for asset in assets.values()
        if asset.content_type == _JS
        for css in _BUNDLED_STYLE.findall(asset.body.decode("utf-8", errors="replace"))
    }
    return tuple(_sha256(css) for css in sorted(found))


def redirect_csp(document: bytes) -> str:
    """oauth2-redirect.html runs an inline script from ``onload``: allow exactly those two by hash, nothing else."""
    text = document.decode()
    sources = [_sha256(s) for s in re.findall(r"<script>(.*?)</script>", text, flags=re.DOTALL)]
    handlers = [_sha256(h) for h in re.findall(r'\bonload="([^"]*)"', text)]
    script = " ".join([*sources, *(["'unsafe-hashes'", *handlers] if handlers else [])]) or "'none'"
    return f"default-src 'none'; script-src {script}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def page_csp(public_url: str, style_hashes: tuple[str, ...] = ()) -> str:
    """Only this origin; ``connect-src`` also names the configured public URL (the OpenAPI ``servers`` entry), which
    differs from the page's origin when the docs are opened on an internal address behind a proxy."""
    parts = urlsplit(public_url)
    public_origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""
    connect = " ".join(filter(None, ["'self'", public_origin]))
    styles = " ".join([_STYLE_HASH, *style_hashes])
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' {styles}; img-src 'self' data:; font-src 'self'; connect-src {connect}; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )


def _security_headers(csp: str | None = None) -> dict[str, str]:
    headers = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    if csp:
        headers["Content-Security-Policy"] = csp
    return headers


async def page(request: web.Request) -> web.Response:
    bundle = await request.app[DOCS].get()
    locale = request_locale(request)
    body = _PAGE.format(
        lang=locale,
        title=html.escape(translate(TITLE, locale)),
        intro=html.escape(translate(INTRO, locale)),
        style=_STYLE,
        static=STATIC_PATH,
        init=INIT_PATH,
        v=html.escape(bundle.version),
    )
    headers = _security_headers(page_csp(request.app[keys.SETTINGS].public_url, bundle.style_hashes))
    headers.update({"Cache-Control": "no-cache", "Vary": "Accept-Language"})
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=headers)


async def redirect_to_page(_request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect(DOCS_PATH)


def swagger_config(app: web.Application) -> dict[str, object]:
    """The SwaggerUIBundle options: one definition per mounted version, the newest stable one selected first."""
    apis = app[APIS]
    urls = [
        {"url": f"{root}/openapi.json", "name": f"{api.version} (beta)" if api.beta else api.version}
        for root, api in apis.items()
    ]
    stable = [u["name"] for u, api in zip(urls, apis.values(), strict=True) if not api.beta]
    primary = stable[-1] if stable else (urls[0]["name"] if urls else "")
    return {
        "urls": urls,
        "urls.primaryName": primary,
        "deepLinking": True,
        "persistAuthorization": True,
        "tryItOutEnabled": True,
        "displayRequestDuration": True,
        "validatorUrl": None,  # the default badge would call validator.swagger.io
        "queryConfigEnabled": False,  # ?url=... must not load a foreign definition into our origin
    }


async def init_script(request: web.Request) -> web.Response:
    # "</" cannot end a script here (separate file), but keep the JSON inert anyway.
    config = json.dumps(swagger_config(request.app), ensure_ascii=True).replace("</", "<\\/")
    headers = _security_headers()
    headers["Cache-Control"] = "no-cache"
    return web.Response(text=_INIT % (config, STATIC_PATH), content_type=_JS, charset="utf-8", headers=headers)


def accepts_gzip(header: str) -> bool:
    """``gzip`` listed in Accept-Encoding without ``q=0``."""
    for item in header.lower().split(","):
        coding, *params = (p.strip() for p in item.split(";"))
        if coding in ("gzip", "*"):
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
    return False


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    bundle = await request.app[DOCS].get()
    asset = bundle.assets[name]
    headers = _security_headers(asset.csp)
    # Immutable only under the versioned URL the page links to; a bare URL may change with an upgrade.
    headers["Cache-Control"] = IMMUTABLE if request.query.get("v") == bundle.version else "no-cache"
    body = asset.body
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, content_type=asset.content_type, charset=asset.charset, headers=headers)
