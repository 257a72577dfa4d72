"""A household as the caller's page shows it: the phone and each open lead's fields."""
from __future__ import annotations

from typing import Any

from realtime.dialer.queue import ReservedHousehold
from realtime.store.models import Lead

LEAD_FIELDS = ("external_id", "first_name", "middle_name", "last_name", "suffix", "email", "address", "city",
               "state", "zip_code", "country")


def lead_json(lead: Lead) -> dict[str, Any]:
    return {"id": lead.id, "fields": {name: getattr(lead, name) or "" for name in LEAD_FIELDS},
            "custom_fields": dict(lead.custom_fields or {})}


def household_json(household: ReservedHousehold) -> dict[str, Any]:
    return {"id": household.id, "phone": household.phone, "leads": [lead_json(lead) for lead in household.leads]}
