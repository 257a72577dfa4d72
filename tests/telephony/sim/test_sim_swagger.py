"""Every event and object the simulator sends fits the models of the swagger it serves."""
from __future__ import annotations

import json

from realtime.telephony.sim.rest import API_DOCS

OBJECTS = {"Channel", "Bridge", "Playback", "CallerID", "DialplanCEP", "Application"}
SCALARS = {"string": str, "int": int, "long": int, "boolean": bool, "Date": str, "object": dict}


def models() -> dict:
    merged = {}
    for doc in API_DOCS.glob("*.json"):
        merged.update(json.loads(doc.read_text()).get("models", {}))
    return merged


def violations(value, model_name: str, catalogue: dict, where: str) -> list[str]:
    """Missing required properties, unknown properties and wrong types, recursively."""
    problems = []
    properties = {}
    chain = [model_name] if model_name in OBJECTS else ["Message", "Event", model_name]
    for name in chain:
        properties.update(catalogue[name]["properties"])
    for key, spec in properties.items():
        if spec.get("required") and key not in value:
            problems.append(f"{where}: missing {key}")
    for key, item in value.items():
        spec = properties.get(key)
        if spec is None:
            problems.append(f"{where}: unexpected {key}")
            continue
        kind = spec["type"]
        if kind in SCALARS:
            if not isinstance(item, SCALARS[kind]):
                problems.append(f"{where}.{key}: {item!r} is not {kind}")
        elif kind.startswith("List["):
            if not isinstance(item, list):
                problems.append(f"{where}.{key}: not a list")
        elif kind in catalogue:
            problems += violations(item, kind, catalogue, f"{where}.{key}")
    return problems


async def test_events_fit_the_swagger_models(ari, events):
    catalogue = models()
    await ari.request("POST", "/channels", endpoint="Local/15555550111@sim", app="dialer", channelId="s-1",
                      callerId="Dialer <5551000>", json_body={"variables": {"X": {"value": "1", "report_events": True}}})
    await ari.request("POST", "/channels", endpoint="PJSIP/15555550171@trunk", app="dialer", channelId="s-2")
    await events.wait_for("StasisStart", "s-1")
    await events.wait_for("ChannelDestroyed", "s-2")
    await ari.request("POST", "/bridges/s-br")
    await ari.request("POST", "/bridges/s-br/addChannel", channel="s-1")
    await ari.request("POST", "/channels/s-1/snoop/s-snoop", spy="in", app="dialer")
    await ari.request("POST", "/channels/s-1/play", media="sound:hello")
    await ari.sim("POST", "channels/s-1/dtmf", digits="5")
    await ari.request("POST", "/channels/s-1/hold")
    await events.wait_for("ChannelDtmfReceived", "s-1")
    await ari.request("DELETE", "/channels/s-1")
    await ari.request("DELETE", "/bridges/s-br")
    await events.wait_for("ChannelDestroyed", "s-1")
    await events.wait_for("BridgeDestroyed")
    kinds = {event["type"] for event in events.events}
    assert {"Dial", "StasisStart", "ChannelEnteredBridge", "PlaybackStarted", "ChannelHold",
            "ChannelDtmfReceived", "ChannelHangupRequest", "ChannelDestroyed", "BridgeDestroyed"} <= kinds
    problems = [problem for event in events.events
                for problem in violations(event, event["type"], catalogue, event["type"])]
    assert problems == []
    status, applications = await ari.request("GET", "/applications")
    assert violations(applications[0], "Application", catalogue, "Application") == []
