"""The API in a browser: the same JSON answer, pretty-printed in a small page whose links can
be clicked (the browsable-API idea of Django REST Framework).

A browser opening ``/v1/...`` from its address bar asks for HTML first; programs ask for
JSON or anything (``*/*``) and keep getting JSON. Only addresses on this site become links,
and a link never carries ``api_key`` or ``api_auth``: a signed-in admin or supervisor
follows them with the session cookie. The page runs no script; its policy allows none.
"""
from __future__ import annotations

import html
import json
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from yarl import URL

from realtime.api.pagination import public_url

logger = logging.getLogger(__name__)

# Stricter than the site's default: nothing but the page's own inline style.
PAGE_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
               "form-action 'none'")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def wants_html(accept: str | None) -> bool:
    """Whether the client prefers HTML to JSON: it names ``text/html`` (or XHTML) with a
    higher quality than ``application/json``. ``*/*`` alone means a program: JSON."""
    html_q = json_q = 0.0
    for entry in (accept or "").split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in _HTML_TYPES:
            html_q = max(html_q, quality)
        elif media == "application/json":
            json_q = max(json_q, quality)
    return html_q > 0 and html_q > json_q


def render_page(data: Any, *, status: int, origin: str, path: str, query: str = "") -> str:
    """The page for a JSON answer ``data`` to ``path`` (``query`` without credentials)."""
    site = URL(origin)
    title = f"{status} {_reason(status)}"
    crumbs = _breadcrumbs(path)
    notice = ""
    if status == 401:
        here = path + (f"?{query}" if query else "")
        notice = (f'<p class="notice">Admins and supervisors can browse the API signed in: '
                  f'<a href="/login?next={html.escape(quote(here, safe="/"))}">Sign in</a>.</p>')
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(path)} · Impact Dialing API</title>
<style>
  body {{ font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }}
  header {{ background: #1d3557; color: #fff; padding: .9rem 2rem; }}
  header a {{ color: #fff; }}
  header h1 {{ margin: 0; font-size: 1.15rem; font-weight: 600; }}
  nav {{ margin-top: .2rem; font-family: ui-monospace, monospace; }}
  main {{ max-width: 70rem; margin: 1.2rem auto; padding: 0 1rem; }}
  .status {{ font-weight: 600; }} .ok {{ color: #15803d; }} .error {{ color: #b91c1c; }}
  .notice {{ background: #fff7ed; border-left: 4px solid #f59e0b; padding: .5rem 1rem; }}
  pre {{ background: #fff; border-radius: 8px; padding: 1rem 1.5rem; box-shadow: 0 1px 3px rgba(0,0,0,.08);
         overflow-x: auto; font: 13px/1.45 ui-monospace, monospace; }}
  pre a {{ color: #1d4ed8; }} .key {{ color: #7c2d12; }} .string {{ color: #065f46; }}
  footer {{ color: #6b7280; font-size: .85rem; }}
</style>
</head>
<body>
<header><h1><a href="/">Impact Dialing</a> API</h1><nav>{crumbs}</nav></header>
<main>
<p class="status {'ok' if status < 400 else 'error'}">{html.escape(title)}</p>
{notice}
<pre>{_json_html(data, site)}</pre>
<footer>Signed-in admins and supervisors read the API with their session; writes need
<code>api_key</code> and <code>api_auth</code>. The same answer as JSON: ask for
<code>application/json</code>.</footer>
</main>
</body>
</html>
"""
    # Text the page cannot encode (a lone surrogate echoed in an error) is shown escaped.
    return page.encode("utf-8", "backslashreplace").decode("utf-8")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _breadcrumbs(path: str) -> str:
    parts = [part for part in path.split("/") if part]
    crumbs = []
    for at in range(len(parts)):
        href = "/" + "/".join(parts[:at + 1])
        crumbs.append(f'<a href="{html.escape(quote(href, safe="/"))}">{html.escape(parts[at])}</a>')
    return " / ".join(crumbs)


def _link(value: str, site: URL) -> URL | None:
    """A link for an address on this site (credentials dropped), None for anything else."""
    if not value.startswith(("http://", "https://")):
        return None
    try:
        url = URL(value)
        same_site = url.is_absolute() and url.origin() == site
    except ValueError:
        return None
    return public_url(url) if same_site else None


def _json_html(value: Any, site: URL, depth: int = 0) -> str:
    """``value`` as indented JSON in HTML, every string escaped and addresses of this site linked."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        entries = [f'{inner}<span class="key">{_scalar(key)}</span>: {_json_html(item, site, depth + 1)}'
                   for key, item in value.items()]
        return "{\n" + ",\n".join(entries) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _json_html(item, site, depth + 1) for item in value) + f"\n{pad}]"
    if isinstance(value, str):
        link = _link(value, site)
        if link is not None:
            return f'<a href="{html.escape(str(link))}">{_scalar(str(link))}</a>'
        return f'<span class="string">{_scalar(value)}</span>'
    return _scalar(value)


def _scalar(value: Any) -> str:
    return html.escape(json.dumps(value, ensure_ascii=False))
