"""Component health: what ``GET /healthz`` reports for the store, the bus and telephony."""
from __future__ import annotations

import dataclasses
import enum


class Status(str, enum.Enum):
    UP = "up"
    DOWN = "down"
    STARTING = "starting"
    NOT_CONFIGURED = "not-configured"


@dataclasses.dataclass(frozen=True)
class ComponentHealth:
    status: Status
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.status is Status.UP

    def as_json(self) -> dict[str, str]:
        body = {"status": self.status.value}
        if self.detail:
            body["detail"] = self.detail
        return body
