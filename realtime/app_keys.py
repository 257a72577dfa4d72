"""Typed keys for what the application factory puts on the aiohttp application."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from realtime.bus import Bus
    from realtime.config import Settings
    from realtime.sessions import SessionSigner
    from realtime.store.database import Store
    from realtime.telephony.service import Telephony
    from realtime.webhooks import WebhookDispatcher

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
STORE: web.AppKey["Store"] = web.AppKey("store")
BUS: web.AppKey["Bus"] = web.AppKey("bus")
TELEPHONY: web.AppKey["Telephony"] = web.AppKey("telephony")
WEBHOOKS: web.AppKey["WebhookDispatcher"] = web.AppKey("webhooks")
# Signs and reads session cookies; set where the web side runs (``sign_in.setup_sign_in``).
SESSION_SIGNER: web.AppKey["SessionSigner"] = web.AppKey("session_signer")
