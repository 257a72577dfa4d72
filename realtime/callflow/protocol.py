"""How the web side and the engines talk over the bus: topics and message shapes.

* ``callflow:commands`` - a command for a caller session (or to open one); every engine
  hears it and the one that owns the session's campaign answers on the ``reply_to``
  topic of the web process that sent it.
* ``callflow:events`` - session events, already numbered (see :mod:`.event_log`), in
  batches ``{events: [{account_id, campaign_id, caller_id, event, data}, ...]}``; each web
  process passes them to the sockets it holds for each session.
* ``callflow:presence`` - each web process says, every few seconds, which sessions have a
  socket with it: a session whose page and phone are both gone ends after a grace period.
* ``callflow:campaigns-changed`` - the REST API changed a campaign or a script.
"""
from __future__ import annotations

from typing import Any

COMMANDS = "callflow:commands"
EVENTS = "callflow:events"
PRESENCE = "callflow:presence"
CAMPAIGNS_CHANGED = "callflow:campaigns-changed"  # {campaign_id?, script_id?}: an admin edited one
PRESENCE_SECONDS = 10.0


def replies(web_id: str) -> str:
    return f"callflow:replies:{web_id}"


def ok(**values: Any) -> dict[str, Any]:
    return {"ok": True, **values}


def error(error_id: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"id": error_id, "message": message}}
