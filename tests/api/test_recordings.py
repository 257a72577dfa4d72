"""/v1/recordings: audio uploads, stored per account, streamed back, guarded while in use."""
from __future__ import annotations

from realtime.api import recordings
from tests.api import samples


async def test_upload_describe_stream_rename_delete(any_api, tmp_path):
    audio = samples.WAV + b"\x01\x02" * 500
    made = await any_api.post("/v1/recordings", None, data=samples.form(audio, "audio/wav", "Sorry we missed you"))
    account = any_api.alice.account_id
    assert made["name"] == "Sorry we missed you"
    assert (made["content_type"], made["size"]) == ("audio/wav", len(audio))
    assert made["media_uri"] == f"recording:acct{account}-{made['id']}"
    assert "audio" in [a["name"] for a in made["actions"]]
    stored = tmp_path / "recordings" / str(account) / f"{made['id']}.wav"
    assert stored.read_bytes() == audio
    assert not [p for p in stored.parent.iterdir() if p.name.startswith(".upload-")]

    status, body, response = await any_api.call("GET", f"/v1/recordings/{made['id']}/audio")
    assert (status, body, response.content_type) == (200, audio, "audio/wav")
    assert await any_api.get(f"/v1/recordings/{made['id']}") == made

    renamed = await any_api.patch(f"/v1/recordings/{made['id']}", {"name": "Voicemail 2"})
    assert renamed["name"] == "Voicemail 2"
    await any_api.delete(f"/v1/recordings/{made['id']}")
    assert not stored.exists()
    status, _, _ = await any_api.call("GET", f"/v1/recordings/{made['id']}/audio")
    assert status == 404


async def test_the_name_defaults_to_the_file_name(api):
    made = await api.post("/v1/recordings", None, data=samples.form(samples.WAV, "audio/mpeg", None, "greeting.mp3"))
    assert (made["name"], made["content_type"]) == ("greeting", "audio/mpeg")
    listed = await api.get("/v1/recordings", params={"name": "greeting"})
    assert [r["id"] for r in listed["resources"]] == [made["id"]]


def raw_upload(disposition: str, content: bytes = samples.WAV) -> tuple[bytes, dict[str, str]]:
    """A multipart body written by hand, for part headers aiohttp's client would not write."""
    body = (b"--b\r\nContent-Disposition: " + disposition.encode() + b"\r\nContent-Type: audio/wav\r\n\r\n"
            + content + b"\r\n--b--\r\n")
    return body, {"Content-Type": "multipart/form-data; boundary=b"}


async def test_a_file_name_that_cannot_be_stored_gives_a_name_that_can(any_api):
    body, headers = raw_upload("form-data; name=\"file\"; filename*=utf-8''Sorry%00%01%20again.wav")
    made = await any_api.post("/v1/recordings", None, data=body, headers={**any_api.alice.headers, **headers})
    assert made["name"] == "Sorry again"


async def test_an_upload_cut_off_before_its_closing_boundary_is_400(api, tmp_path):
    body, headers = raw_upload('form-data; name="file"; filename="a.wav"')
    for cut in (body[:-len("--b--\r\n")], body[:-20], body[:30]):
        status, answer, _ = await api.call("POST", "/v1/recordings", data=cut, headers={**api.alice.headers, **headers})
        assert (status, answer["error"]["id"]) == (400, "malformed-body"), (cut[-20:], answer)
    assert (await api.get("/v1/recordings"))["total"] == 0
    assert not [p for p in (tmp_path / "recordings").rglob("*") if p.is_file()]


async def test_only_audio_is_accepted(api, tmp_path):
    status, body, _ = await api.call("POST", "/v1/recordings", data=samples.form(b"MZ\x90\x00", "application/x-msdownload"))
    assert status == 422
    assert body["error"]["details"]["fields"] == {"file": "must be audio (audio/*), not application/x-msdownload"}
    status, body, _ = await api.call("POST", "/v1/recordings", json={"name": "no file"})
    assert (status, body["error"]["id"]) == (415, "unsupported-media-type")
    form = samples.form(samples.WAV, "audio/wav", "x" * 201)
    status, body, _ = await api.call("POST", "/v1/recordings", data=form)
    assert status == 422 and body["error"]["details"]["fields"] == {"name": "must be at most 200 characters"}
    assert (await api.get("/v1/recordings"))["total"] == 0
    assert not [p for p in (tmp_path / "recordings").rglob("*") if p.is_file()]


async def test_uploads_over_the_size_cap_are_refused(api, monkeypatch, tmp_path):
    monkeypatch.setattr(recordings, "MAX_BYTES", 100_000)
    status, body, _ = await api.call("POST", "/v1/recordings", data=samples.form(b"\x00" * 100_001, "audio/wav"))
    assert (status, body["error"]["id"]) == (413, "payload-too-large")
    assert (await api.get("/v1/recordings"))["total"] == 0
    assert not [p for p in (tmp_path / "recordings").rglob("*") if p.is_file()]


async def test_a_recording_a_campaign_plays_cannot_be_deleted(api):
    made = await samples.recording(api)
    campaign = await samples.campaign(api, safe_harbor_recording_id=made["id"])
    status, body, _ = await api.call("DELETE", f"/v1/recordings/{made['id']}")
    assert (status, body["error"]["id"]) == (409, "recording-in-use")
    await api.patch(f"/v1/campaigns/{campaign['id']}", {"safe_harbor_recording_id": None})
    await api.delete(f"/v1/recordings/{made['id']}")


async def test_a_broken_multipart_body_is_400(api):
    body = (b'--b\r\nContent-Disposition: form-data; name="fi\x00le"\r\n\r\nxx\r\n--b--\r\n')
    status, answer, _ = await api.call("POST", "/v1/recordings", data=body, headers={
        **api.alice.headers, "Content-Type": "multipart/form-data; boundary=b"})
    assert (status, answer["error"]["id"]) == (400, "malformed-body")
