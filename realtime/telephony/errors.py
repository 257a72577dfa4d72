"""Domain errors of the telephony layer, with stable kebab-case ids.

ARI failures below this layer keep their own ids (:mod:`realtime.telephony.ari.errors`);
these say what went wrong with a call in the words of the product.
"""
from __future__ import annotations


class TelephonyError(Exception):
    """A call-control request that cannot be carried out; nothing was changed."""

    error_id = "telephony-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.error_id}: {self.message}"


class InvalidNumber(TelephonyError):
    """A phone number that cannot be dialled (not 3-20 digits with an optional ``+``)."""

    error_id = "invalid-number"


class InvalidEndpoint(TelephonyError):
    """A stored caller or supervisor endpoint that is not ``TECH/resource``."""

    error_id = "invalid-endpoint"


class CallerUnreachable(TelephonyError):
    """The caller's own phone leg was not answered, so the conference could not open."""

    error_id = "caller-unreachable"

    def __init__(self, message: str, *, cause: int | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class ConferenceClosed(TelephonyError):
    error_id = "conference-closed"


class NotAnswered(TelephonyError):
    """The leg is still ringing (or a lead is in answering-machine detection)."""

    error_id = "not-answered"


class CallEnded(TelephonyError):
    """The leg this request is about has already hung up."""

    error_id = "call-ended"


class InvalidMode(TelephonyError):
    error_id = "invalid-mode"


class DialFailed(TelephonyError):
    """An originated leg ended without being answered. ``reason`` is one of ``busy``,
    ``no-answer``, ``congestion``, ``unreachable``, ``rejected``, ``cancelled``, ``lost``."""

    error_id = "dial-failed"

    def __init__(self, message: str, *, reason: str, cause: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.cause = cause
