"""The SDK's node tests run against the live product of the /caller tests."""
from tests.channels.conftest import far_end, floor, product, simulator  # noqa: F401
