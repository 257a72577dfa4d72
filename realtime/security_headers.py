"""Security headers on every answer the server sends.

- No page may be framed by another site (clickjacking: a hidden sign-in or caller page
  under a decoy): ``X-Frame-Options: DENY`` for older browsers, CSP ``frame-ancestors
  'none'`` for the rest. Sent on every answer, not only HTML, so a page added later (or an
  error page) is covered without anyone remembering to.
- ``X-Content-Type-Options: nosniff``: JSON is never run as a script or shown as HTML.
- ``Referrer-Policy: same-origin``: addresses (with their queries) never leak to other
  sites. Not ``no-referrer``: under it a browser sends ``Origin: null`` with the sign-in
  form's POST, which the sign-in's cross-site check must refuse.

A response that sets its own ``Content-Security-Policy`` (the browsable API's page) keeps it.
"""
from __future__ import annotations

import logging

from aiohttp import web

logger = logging.getLogger(__name__)

PAGE_POLICY = "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def setup_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(_add_headers)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
