"""How a phone number or a stored phone becomes an ARI endpoint.

Lead and transfer numbers go through the dial template (``REALTIME_DIAL_TEMPLATE``,
e.g. ``PJSIP/{number}@trunk``); callers and supervisors have an endpoint of their own
stored with them (e.g. ``PJSIP/agent101``).
"""
from __future__ import annotations

import re

from .errors import InvalidEndpoint, InvalidNumber

_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
# Commas would split ARI list parameters; spaces and slashes in the resource are typos.
_ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[^,\s]+$")


class DialTemplate:
    def __init__(self, template: str) -> None:
        if "{number}" not in template or "/" not in template:
            raise ValueError(f"dial template {template!r} needs a '/' and a '{{number}}' placeholder")
        self.template = template

    def endpoint(self, number: str) -> str:
        """``PJSIP/+15555550100@trunk`` for ``+15555550100``; raises :class:`InvalidNumber`."""
        number = number.strip() if isinstance(number, str) else number
        if not isinstance(number, str) or not _NUMBER.match(number):
            raise InvalidNumber(f"{number!r} is not a phone number (3-20 digits, optional leading +)")
        return self.template.replace("{number}", number)


def user_endpoint(endpoint: str) -> str:
    """A caller's or supervisor's stored endpoint, checked; raises :class:`InvalidEndpoint`."""
    if not isinstance(endpoint, str) or not _ENDPOINT.match(endpoint.strip()):
        raise InvalidEndpoint(f"{endpoint!r} is not an endpoint like PJSIP/agent101")
    return endpoint.strip()
