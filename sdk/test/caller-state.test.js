import assert from "node:assert/strict";
import { test } from "node:test";

import { initialCallerState, reduceCaller } from "../src/caller-state.js";

const script = { id: 1, name: "Survey", texts: [], questions: [], notes: [], transfers: [] };
const household = { id: 88, phone: "+12025550100", leads: [{ id: 91, fields: { first_name: "Jo" }, custom_fields: {} }] };
let seq = 0;
const at = "2026-12-04T15:03:45.120Z";

function run(events, state = initialCallerState()) {
  for (const [name, data] of events) state = reduceCaller(state, name, { ...data, seq: ++seq, at, session_id: 17 });
  return state;
}

const started = ["session_started", { caller: { id: 4, name: "Alex" }, campaign: { id: 1, name: "GOTV", dialer_mode: "preview" },
  script, dial_in: { number: "+12025550123", pin: "4821907" } }];

test("a preview call from the lead to wrap-up to the next lead", () => {
  let s = run([started]);
  assert.equal(s.state, "ready");
  assert.equal(s.dial_in.pin, "4821907");
  s = run([["state_changed", { state: "previewing", previous: "on_hold", reason: "joined" }],
    ["lead_presented", { household }]], s);
  assert.equal(s.household.phone, "+12025550100");
  assert.equal(s.call, null);
  s = run([["call_dialing", { call_id: "c1", household }], ["call_ringing", { call_id: "c1" }]], s);
  assert.equal(s.call.status, "ringing");
  s = run([["call_connected", { call_id: "c1", household }], ["state_changed", { state: "on_call" }]], s);
  assert.equal(s.call.status, "connected");
  assert.equal(s.call.since, at);
  s = run([["call_ended", { call_id: "c1", status: "completed", by: "caller" }], ["state_changed", { state: "wrap_up" }]], s);
  assert.deepEqual([s.state, s.call.status, s.call.ended_by], ["wrap_up", "completed", "caller"]);
  s = run([["results_saved", { call_id: "c1", lead_id: 91, retry: false }]], s);
  assert.equal(s.call, null);
  assert.equal(s.household, null);
});

test("predictive: the household arrives with the connected call", () => {
  const s = run([started, ["state_changed", { state: "on_hold" }], ["call_connected", { call_id: "p1", household }]]);
  assert.equal(s.household.id, 88);
  assert.equal(s.call.call_id, "p1");
});

test("a transfer is shown while it lasts", () => {
  let s = run([started, ["call_connected", { call_id: "c2", household }]]);
  s = run([["transfer_dialing", { transfer_id: 3, kind: "warm", label: "Field office" }]], s);
  assert.deepEqual(s.transfer, { transfer_id: 3, kind: "warm", label: "Field office", status: "dialing" });
  s = run([["transfer_connected", { transfer_id: 3, kind: "warm" }]], s);
  assert.equal(s.transfer.status, "connected");
  assert.equal(s.transfer.label, "Field office");
  s = run([["transfer_ended", { transfer_id: 3, kind: "warm", status: "completed" }]], s);
  assert.equal(s.transfer, null);
});

test("an edited script shows from the next lead, never under the call being worked", () => {
  const edited = { ...script, name: "Survey v2" };
  let s = run([started, ["call_connected", { call_id: "c3", household }], ["script_changed", { script: edited }]]);
  assert.equal(s.script.name, "Survey");
  s = run([["results_saved", { call_id: "c3" }], ["lead_presented", { household }]], s);
  assert.equal(s.script.name, "Survey v2");
  // Between leads it shows at once.
  s = run([["results_saved", { call_id: "x" }], ["campaign_changed", { campaign: { id: 2, name: "Other" }, script }]], s);
  assert.equal(s.campaign.name, "Other");
});

test("a snapshot replaces what the page had with the server's session", () => {
  let s = run([started, ["call_connected", { call_id: "old", household }]]);
  s = reduceCaller(s, "snapshot", { state: "wrap_up", household, call: { call_id: "c9", status: "wrap_up", lead_ids: [91] },
    transfer: null, campaign: { id: 1, name: "GOTV", dialer_mode: "preview" }, script, last_seq: 41, seq: 41, at, session_id: 17 });
  assert.equal(s.state, "wrap_up");
  assert.equal(s.call.call_id, "c9");
  assert.equal(s.last_seq, 41);
  assert.equal(s.caller.name, "Alex"); // what a snapshot does not carry is kept
});

test("the end of a session says why", () => {
  const s = run([started, ["session_ended", { reason: "kicked" }]]);
  assert.equal(s.state, "ended");
  assert.equal(s.ended.reason, "kicked");
});

test("the state before an event is left as it was", () => {
  const before = run([started]);
  const frozen = JSON.stringify(before);
  reduceCaller(before, "lead_presented", { household, seq: 99, at, session_id: 17 });
  assert.equal(JSON.stringify(before), frozen);
});
