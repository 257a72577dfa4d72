"""docs/sdk.md says what the SDK does: every public method of both objects is in its tables,
every method its examples call exists, and the screenshots it shows are in the repository."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "sdk.md").read_text()
SOURCES = {"caller": ROOT / "sdk" / "src" / "caller.js", "supervisor": ROOT / "sdk" / "src" / "supervisor.js",
           "channel": ROOT / "sdk" / "src" / "channel.js"}


def public_methods(path: Path) -> set[str]:
    return set(re.findall(r"^  (?:async )?([a-z][A-Za-z]*)\(", path.read_text(), re.M)) - {"constructor"}


def test_every_public_method_is_in_a_table():
    tables = set(re.findall(r"^\| `([a-zA-Z]+)\(", DOC, re.M)) | set(re.findall(r"`([a-zA-Z]+)\(\)`", DOC))
    for name, path in SOURCES.items():
        missing = public_methods(path) - tables
        assert not missing, (name, missing)


def test_the_examples_call_only_what_exists():
    methods = set().union(*(public_methods(path) for path in SOURCES.values()))
    examples = "\n".join(re.findall(r"```js\n(.*?)```", DOC, re.S))
    called = set(re.findall(r"\b(?:caller|floor)\.([a-zA-Z]+)\(", examples))
    assert called and called <= methods | {"on"}, called - methods


def test_the_screenshots_shown_are_there():
    images = re.findall(r"\]\((img/[^)]+)\)", DOC)
    assert len(images) == 4
    for image in images:
        assert (ROOT / "docs" / image).stat().st_size > 10_000, image
