import assert from "node:assert/strict";
import { test } from "node:test";

import { FloorSequence } from "../src/sequence.js";
import { initialFloor, reduceFloor } from "../src/supervisor-state.js";

const at = "2026-12-04T15:03:45.120Z";
const me = { id: 2, name: "Sam Super", role: "supervisor", phone_endpoint: true, monitoring: null };
const row = (session_id, state = "on_hold", extra = {}) => ({ session_id, caller: { id: session_id * 10, name: `Caller ${session_id}` },
  campaign_id: 1, state, since: at, lead_phone: null, monitors: [], ...extra });
const campaign = { campaign_id: 1, name: "GOTV", dialer_mode: "predictive", callers: { on_hold: 1 }, lines_ringing: 2,
  households_left: 120, abandonment: null, pacer: { lines_to_dial: 2, reason: "ratio", at } };

function floorAt(seq = 5) {
  return reduceFloor(initialFloor(), "floor", { stream: "s1", campaigns: [campaign], sessions: [row(7), row(8)],
    recording: true, supervisor: me, dial_in_number: "+12025550123", seq, at });
}

test("the floor event replaces everything; changes change one row", () => {
  let f = floorAt();
  assert.deepEqual(Object.keys(f.sessions), ["7", "8"]);
  assert.equal(f.recording, true);
  f = reduceFloor(f, "session_updated", { session: row(7, "on_call", { lead_phone: "+12025550100" }), seq: 6, at });
  assert.equal(f.sessions[7].state, "on_call");
  f = reduceFloor(f, "session_ended", { session_id: 8, reason: "kicked", seq: 7, at });
  assert.deepEqual(Object.keys(f.sessions), ["7"]);
  f = reduceFloor(f, "campaign_updated", { campaign: { ...campaign, lines_ringing: 0 }, seq: 8, at });
  assert.equal(f.campaigns[1].lines_ringing, 0);
  f = reduceFloor(f, "recording_changed", { enabled: false, seq: 9, at });
  assert.equal(f.recording, false);
  f = reduceFloor(f, "campaign_removed", { campaign_id: 1, seq: 10, at });
  assert.deepEqual(f.campaigns, {});
  assert.equal(f.last_seq, 10);
});

test("who listens to whom: switching modes, moving to another caller, stopping", () => {
  let f = floorAt();
  f = reduceFloor(f, "monitoring_changed", { session_id: 7, supervisor: { id: 2, name: "Sam Super" }, mode: "listen", reason: "started", seq: 6, at });
  assert.deepEqual(f.sessions[7].monitors, [{ supervisor: { id: 2, name: "Sam Super" }, mode: "listen" }]);
  assert.deepEqual([f.supervisor.monitoring, f.supervisor.mode], [7, "listen"]);
  f = reduceFloor(f, "monitoring_changed", { session_id: 7, supervisor: { id: 2, name: "Sam Super" }, mode: "barge", reason: "switched", seq: 7, at });
  assert.deepEqual(f.sessions[7].monitors.map((m) => m.mode), ["barge"]);
  f = reduceFloor(f, "monitoring_changed", { session_id: 8, supervisor: { id: 2, name: "Sam Super" }, mode: "coach", reason: "switched", seq: 8, at });
  assert.deepEqual([f.sessions[7].monitors.length, f.sessions[8].monitors.length], [0, 1]);
  // A move's "left" event for the first caller may come after the second's: the second stays.
  f = reduceFloor(f, "monitoring_changed", { session_id: 7, supervisor: { id: 2, name: "Sam Super" }, mode: null, reason: "moved", seq: 9, at });
  assert.deepEqual([f.sessions[7].monitors.length, f.sessions[8].monitors.length], [0, 1]);
  assert.deepEqual([f.supervisor.monitoring, f.supervisor.mode], [8, "coach"]);
  f = reduceFloor(f, "monitoring_changed", { session_id: 8, supervisor: { id: 2, name: "Sam Super" }, mode: null, reason: "stopped", seq: 9, at });
  assert.equal(f.sessions[8].monitors.length, 0);
  assert.equal(f.supervisor.monitoring, null);
  // Someone else's phone is theirs.
  f = reduceFloor(f, "phone_changed", { supervisor: { id: 3, name: "Other" }, connected: true, seq: 10, at });
  assert.equal(f.phone_connected, false);
  f = reduceFloor(f, "phone_changed", { supervisor: { id: 2, name: "Sam Super" }, connected: true, seq: 11, at });
  assert.equal(f.phone_connected, true);
});

test("a console opened while its supervisor listens shows the mode and the phone", () => {
  const listening = { supervisor: { id: 2, name: "Sam Super" }, mode: "coach" };
  const f = reduceFloor(initialFloor(), "floor", { stream: "s1", campaigns: [], sessions: [row(7, "on_call", { monitors: [listening] })],
    recording: false, supervisor: { ...me, monitoring: 7 }, dial_in_number: null, seq: 3, at });
  assert.deepEqual([f.supervisor.monitoring, f.supervisor.mode, f.phone_connected], [7, "coach", true]);
});

test("the floor's numbering: a stream per floor, no duplicate, no gap", () => {
  const sequence = new FloorSequence();
  assert.equal(sequence.accept("session_updated", { seq: 3, at }), "resync"); // no floor yet
  assert.equal(sequence.accept("floor", { stream: "s1", seq: 5, at }), "apply");
  assert.deepEqual(sequence.auth(), { stream: "s1", last_seq: 5 });
  assert.equal(sequence.accept("session_updated", { seq: 5, at }), "drop");
  assert.equal(sequence.accept("session_updated", { seq: 7, at }), "resync");
  assert.equal(sequence.accept("session_updated", { seq: 6, at }), "apply");
  assert.equal(sequence.accept("floor", { stream: "s1", seq: 4, at }), "drop");
  assert.equal(sequence.accept("floor", { stream: "s2", seq: 1, at }), "apply"); // another process's stream
  assert.deepEqual(sequence.resync(), { stream: "s2", last_seq: 1 });
});
