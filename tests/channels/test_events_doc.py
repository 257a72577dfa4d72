"""docs/events.md says what the code does: every event with its payload, every command, every
error id the caller flow can answer."""
from __future__ import annotations

import re
from pathlib import Path

from realtime.callflow.events import CATALOGUE
from realtime.callflow.states import ALLOWED
from realtime.channels.caller import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
# The first part of the page: /caller (the second, /monitor, has test_monitor_doc.py).
DOC = (ROOT / "docs" / "events.md").read_text().split("\n# The supervisors' live floor", 1)[0]
# The supervisors' side of the code answers /monitor's commands (test_monitor_doc.py).
SUPERVISION = {"actions.py", "supervision.py", "monitor.py", "floor.py"}


def section(name: str) -> str:
    start = DOC.index(f"### `{name}`")
    following = DOC.find("\n### ", start + 1)
    return DOC[start:following if following != -1 else len(DOC)]


def test_every_event_is_described_with_its_payload():
    described = set(re.findall(r"^### `(\w+)`", DOC, re.M))
    assert described == set(CATALOGUE)
    for name, event in CATALOGUE.items():
        payload = re.search(r"Payload:\s+(.*?)(?:\.\s|\.$|\n\n)", section(name), re.S)
        assert payload, f"{name}: no payload line"
        fields = re.findall(r"`(\w+)`", payload.group(1).split(". ")[0])
        assert set(fields[:len(event.fields)]) == set(event.fields), (name, fields)


def test_the_examples_are_json_with_the_envelope():
    import json

    for name in CATALOGUE:
        for example in re.findall(r"```json\n(.*?)```", section(name), re.S):
            data = json.loads(example.replace('"..."', '"x"'))
            assert {"seq", "at", "session_id"} <= set(data), name
            assert set(data) - {"seq", "at", "session_id"} == set(CATALOGUE[name].fields), name


def test_every_command_is_in_the_table():
    rows = set(re.findall(r"^\| `(\w+)` \| `\{", DOC, re.M))
    assert rows == COMMANDS | {"resync"}
    assert set(ALLOWED) == COMMANDS


def test_every_error_id_the_code_answers_is_listed():
    sources = [path for path in (*(ROOT / "realtime" / "callflow").glob("*.py"),
                                 *(ROOT / "realtime" / "channels").glob("*.py")) if path.name not in SUPERVISION]
    code = "\n".join(path.read_text() for path in sources)
    raised = set(re.findall(r'(?:CallFlowError|protocol\.error|HandshakeRefused)\(\s*"([a-z-]+)"', code))
    raised |= set(re.findall(r'"[a-z_]+": "([a-z-]+)"', re.search(r"ids = \{(.*?)\}", code, re.S).group(1)))
    raised |= {"wrong-state", "transfer-failed"}
    listed = {error_id for row in re.findall(r"^\| (`[a-z-]+`(?:, `[a-z-]+`)*) \|", DOC, re.M)
              for error_id in re.findall(r"`([a-z-]+)`", row)}
    assert raised - listed == set()
