"""The second part of docs/events.md says what /monitor does: every event with its payload,
every command, every error id the supervisors' side can answer."""
from __future__ import annotations

import json
import re
from pathlib import Path

from realtime.channels.monitor import COMMANDS, EVENTS

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "docs" / "events.md").read_text()
MARK = "\n# The supervisors' live floor"
DOC = TEXT[TEXT.index(MARK):]
# Where the supervisors' commands are checked, carried out and refused.
SOURCES = [ROOT / "realtime" / "channels" / "monitor.py", ROOT / "realtime" / "callflow" / "actions.py",
           ROOT / "realtime" / "callflow" / "supervision.py", ROOT / "realtime" / "channels" / "handshake.py"]
# What the engine answers any command for a session (engine.py, reassignment), and the client.
PASSED_ON = {"no-such-session", "no-such-campaign", "campaign-inactive", "campaign-elsewhere", "campaign-not-ready",
             "engine-unavailable", "engine-error", "session-ended", "invalid-payload"}


def section(name: str) -> str:
    start = DOC.index(f"### `{name}`")
    following = DOC.find("\n### ", start + 1)
    return DOC[start:following if following != -1 else len(DOC)]


def test_the_monitor_part_comes_after_the_caller_part():
    assert TEXT.index(MARK) > TEXT.index("### `snapshot`")


def test_every_event_is_described_with_its_payload():
    described = set(re.findall(r"^### `(\w+)`", DOC, re.M))
    assert described == set(EVENTS)
    for name, fields in EVENTS.items():
        payload = re.search(r"Payload:\s+(.*?)(?:\.\s|\.$|\n\n)", section(name), re.S)
        assert payload, f"{name}: no payload line"
        named = re.findall(r"`(\w+)`", payload.group(1).split(". ")[0])
        assert set(named[:len(fields)]) == set(fields), (name, named)


def test_the_examples_are_json_with_the_envelope():
    examples = 0
    for name, fields in EVENTS.items():
        for example in re.findall(r"```json\n(.*?)```", section(name), re.S):
            data = json.loads(example.replace('"..."', '"x"'))
            assert {"seq", "at"} <= set(data), name
            assert set(data) - {"seq", "at"} == set(fields), name
            examples += 1
    assert examples >= 6


def test_every_command_is_in_the_table():
    rows = set(re.findall(r"^\| `(\w+)` \| `\{", DOC, re.M))
    assert rows == COMMANDS | {"resync"}


def test_every_error_id_the_supervisors_side_answers_is_listed():
    code = "\n".join(path.read_text() for path in SOURCES)
    raised = set(re.findall(r'(?:CallFlowError|protocol\.error|HandshakeRefused|Refused)\(\s*"([a-z-]+)"', code))
    assert {"no-phone", "not-monitoring", "admins-only", "not-a-supervisor"} <= raised  # the search finds them
    listed = {error_id for row in re.findall(r"^\| (`[a-z-]+`(?:, `[a-z-]+`)*) \|", DOC, re.M)
              for error_id in re.findall(r"`([a-z-]+)`", row)}
    handshake_only = {"not-a-caller"}  # /caller's
    assert (raised | PASSED_ON) - handshake_only - listed == set()
