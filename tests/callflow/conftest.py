"""The caller flow's tests use the live product of the /caller tests."""
from tests.channels.conftest import callers, far_end, floor, product, simulator, supervisors  # noqa: F401
