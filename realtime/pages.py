"""The two applications' pages, ``/caller`` and ``/monitor``, and the browser SDK they are
built on, served from the repository: ``/sdk/`` is ``sdk/src`` as written (ES modules, no
build), ``/sdk/vendor/socket.io-client/`` the bundle npm installed (``pip install -e .`` runs
``npm ci`` in ``sdk/``; see setup.py). Nothing comes from a CDN: the pages work offline.

The pages find their modules through an import map, so the SDK imports ``socket.io-client``
by its package name in a browser as in node. Their Content-Security-Policy lets scripts run
only from this site, plus that one inline import map (by its hash): a script or lead field
that slipped past the escaping could still run nothing.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path

from aiohttp import web

from realtime import app_keys
from realtime.security_headers import PAGE_POLICY
from realtime.sessions import live_identity_from_request

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
SDK_SOURCE = ROOT / "sdk" / "src"
SOCKET_IO_DIST = ROOT / "sdk" / "node_modules" / "socket.io-client" / "dist"

IMPORT_MAP = json.dumps({"imports": {
    "socket.io-client": "/sdk/vendor/socket.io-client/socket.io.esm.min.js",
    "@impactdialing/sdk": "/sdk/index.js",
    "@impactdialing/sdk/markdown": "/sdk/markdown.js",
}}, separators=(",", ":"))
_IMPORT_MAP_HASH = base64.b64encode(hashlib.sha256(IMPORT_MAP.encode()).digest()).decode()
APP_POLICY = (f"default-src 'self'; script-src 'self' 'sha256-{_IMPORT_MAP_HASH}'; style-src 'self'; "
              f"img-src 'self' data:; connect-src 'self'; {PAGE_POLICY}")
NO_STORE = {"Cache-Control": "no-store"}

# Which page is whose: a caller opening /monitor (or a supervisor /caller) is sent to theirs.
PAGES = {"caller": ("/caller", "caller.html"), "user": ("/monitor", "monitor.html")}


def home_path(kind: str) -> str:
    """Where a person lands after signing in: callers in the caller app, users in the console."""
    return PAGES.get(kind, ("/", ""))[0]


def setup_pages(app: web.Application) -> None:
    """Serve /caller, /monitor and the SDK; the sign-in routes must be set up already."""
    if not STATIC_DIR.is_dir() or not SDK_SOURCE.is_dir():
        logger.error("the pages and the SDK are not beside the package (%s): install from a checkout "
                     "(pip install -e .) to serve /caller and /monitor", ROOT)
        return
    app.router.add_get("/caller", _page_for("caller"))
    app.router.add_get("/monitor", _page_for("user"))
    app.router.add_static("/sdk/", SDK_SOURCE)
    if SOCKET_IO_DIST.is_dir():
        app.router.add_static("/sdk/vendor/socket.io-client/", SOCKET_IO_DIST)
    else:
        logger.error("socket.io-client is not installed in %s: the caller app and the console cannot "
                     "connect; run `pip install -e .` (it runs `npm ci` in sdk/)", SOCKET_IO_DIST.parent)


def _page_for(kind: str):
    path, file_name = PAGES[kind]

    async def page(request: web.Request) -> web.StreamResponse:
        identity = await live_identity_from_request(request, request.app[app_keys.STORE],
                                                    request.app[app_keys.SESSION_SIGNER])
        if identity is None:
            raise web.HTTPSeeOther(f"/login?next={path}", headers=NO_STORE)
        if identity.kind != kind:
            raise web.HTTPSeeOther(home_path(identity.kind), headers=NO_STORE)
        text = (STATIC_DIR / file_name).read_text(encoding="utf-8")
        text = text.replace("<!--importmap-->", f'<script type="importmap">{IMPORT_MAP}</script>')
        return web.Response(text=text, content_type="text/html",
                            headers={**NO_STORE, "Content-Security-Policy": APP_POLICY})

    return page
