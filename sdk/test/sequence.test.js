import assert from "node:assert/strict";
import { test } from "node:test";

import { EventSequence } from "../src/sequence.js";

const ev = (seq, session_id = 17) => ({ seq, session_id, at: "2026-12-04T15:03:45.120Z" });

test("events in order are applied, and the socket's auth says the last one", () => {
  const sequence = new EventSequence();
  assert.deepEqual(sequence.auth(), { last_seq: 0 });
  assert.equal(sequence.accept("session_started", ev(1)), "apply");
  assert.equal(sequence.accept("state_changed", ev(2)), "apply");
  assert.deepEqual(sequence.auth(), { session_id: 17, last_seq: 2 });
});

test("a replay overlapping what the page has is dropped: no duplicate", () => {
  const sequence = new EventSequence();
  for (const seq of [1, 2, 3]) sequence.accept("state_changed", ev(seq));
  assert.equal(sequence.accept("state_changed", ev(2)), "drop");
  assert.equal(sequence.accept("state_changed", ev(3)), "drop");
  assert.equal(sequence.accept("state_changed", ev(4)), "apply");
});

test("a gap is never applied: the SDK asks for what it missed, from what it has", () => {
  const sequence = new EventSequence();
  sequence.accept("session_started", ev(1));
  assert.equal(sequence.accept("call_ended", ev(3)), "resync");
  assert.deepEqual(sequence.auth(), { session_id: 17, last_seq: 1 });
  assert.equal(sequence.accept("state_changed", ev(2)), "apply");
  assert.equal(sequence.accept("call_ended", ev(3)), "apply");
});

test("a snapshot stands for every event up to its seq; an older one is dropped", () => {
  const sequence = new EventSequence();
  sequence.accept("session_started", ev(1));
  assert.equal(sequence.accept("snapshot", ev(40)), "apply");
  assert.equal(sequence.accept("state_changed", ev(40)), "drop");
  assert.equal(sequence.accept("state_changed", ev(41)), "apply");
  assert.equal(sequence.accept("snapshot", ev(30)), "drop");
});

test("a new session starts the numbering over; the middle of an unknown one asks from its start", () => {
  const sequence = new EventSequence();
  for (const seq of [1, 2, 3, 4]) sequence.accept("state_changed", ev(seq));
  assert.equal(sequence.accept("session_started", ev(1, 18)), "apply");
  assert.deepEqual(sequence.auth(), { session_id: 18, last_seq: 1 });
  assert.equal(sequence.accept("state_changed", ev(5, 19)), "resync");
  assert.deepEqual(sequence.auth(), { last_seq: 0 });
});

test("anything without a number is dropped", () => {
  const sequence = new EventSequence();
  assert.equal(sequence.accept("state_changed", null), "drop");
  assert.equal(sequence.accept("state_changed", { seq: "1", session_id: 1 }), "drop");
  assert.equal(sequence.accept("state_changed", { seq: 1.5, session_id: 1 }), "drop");
  assert.deepEqual(sequence.auth(), { last_seq: 0 });
});
