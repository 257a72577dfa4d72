// The SDK against the real server: `tests/sdk/test_node_sdk.py` starts the product on an ARI
// simulator, seeds a preview campaign with a caller, and runs these with IMPACTDIALER_URL,
// IMPACTDIALER_USERNAME and IMPACTDIALER_PASSWORD set. Without them they are skipped.
import assert from "node:assert/strict";
import { test } from "node:test";

import ImpactDialer, { ImpactDialerError } from "../src/index.js";

const url = process.env.IMPACTDIALER_URL;
const skip = url ? false : "needs a server: run through pytest (tests/sdk/test_node_sdk.py)";
const TIMEOUT = 10_000;

async function signIn() {
  const response = await fetch(`${url}/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ login: process.env.IMPACTDIALER_USERNAME, password: process.env.IMPACTDIALER_PASSWORD }),
  });
  assert.equal(response.status, 200, await response.text());
  return response.headers.get("set-cookie").split(";")[0];
}

const opened = [];

/** A caller device whose every event is kept, with a way to wait for one. */
function device(cookie) {
  const caller = ImpactDialer.caller({ url, socketOptions: { withCredentials: false, extraHeaders: { Cookie: cookie } } });
  caller.received = [];
  caller.connections = [];
  caller.on("event", (name, data) => caller.received.push([name, data]));
  caller.on("connection", (status) => caller.connections.push(status));
  opened.push(caller);
  return caller;
}

function next(caller, name, match = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      caller.off(name, seen);
      reject(new Error(`no ${name} within ${TIMEOUT} ms; got ${caller.received.map(([n]) => n)}; connection ${caller.connections} ${caller.connectionError?.id} ${caller.connectionError?.message}`));
    }, TIMEOUT);
    const seen = (...args) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      caller.off(name, seen);
      resolve(args[0]);
    };
    caller.on(name, seen);
  });
}

function until(predicate, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (predicate()) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > TIMEOUT) {
        clearInterval(poll);
        reject(new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`));
      }
    }, 10);
  });
}

function seqs(caller) {
  return caller.received.map(([, data]) => data.seq);
}

test("a caller's session: commands, errors with the server's id, a dropped connection without a gap or a duplicate",
  { skip, timeout: 60_000 }, async (t) => {
    t.after(() => opened.forEach((caller) => caller.disconnect()));
    const cookie = await signIn();
    const page = device(cookie);
    const started = await next(page, "session_started");
    assert.equal(page.connection, "connected");
    assert.equal(page.state, "ready");
    assert.equal(started.campaign.dialer_mode, "preview");

    // A command refused by the server rejects with an Error carrying its id; nothing changes.
    const refused = await page.dial().catch((error) => error);
    assert.ok(refused instanceof ImpactDialerError && refused instanceof Error);
    assert.equal(refused.id, "not-previewing");
    assert.equal(page.state, "ready");

    const states = [];
    page.on("state", (state) => states.push(state));
    await page.start();
    await until(() => page.state === "previewing", "previewing");
    assert.deepEqual(states, ["connecting", "previewing"]);
    const first = page.session.household.phone;

    // The network drops; a second tab of the same caller works meanwhile.
    const other = device(cookie);
    await until(() => other.connection === "connected" && other.state === "previewing", "the second tab");
    page.socket.io.engine.close();
    await until(() => page.connection === "reconnecting", "reconnecting");
    const presented = next(other, "lead_presented");
    await other.skip();
    await presented;
    const connected = next(other, "call_connected");
    const dialed = await other.dial();
    assert.equal((await connected).call_id, dialed.call_id);

    // Back: everything missed, in order, once; the state is the server's.
    await until(() => page.connection === "connected", "connected again");
    await until(() => page.session.call?.call_id === dialed.call_id && page.state === "on_call", "the call");
    assert.deepEqual(page.connections.slice(-2), ["reconnecting", "connected"]);
    assert.notEqual(page.session.household.phone, first);
    assert.deepEqual(seqs(page), seqs(page).map((_, i) => i + 1));
    assert.deepEqual(seqs(page), seqs(other).slice(0, seqs(page).length));

    // A replay of everything from the start: all duplicates, none shown.
    const before = page.received.length;
    const replay = await page.command("resync", { last_seq: 0 });
    assert.equal(replay.replayed, before);
    assert.equal(page.received.length, before);

    await page.hangup();
    await until(() => page.state === "wrap_up", "wrap-up");
    const question = page.session.script.questions[0];
    const bad = await page.submit({ answers: { [question.id]: 999_999 } }).catch((error) => error);
    assert.equal(bad.id, "invalid-answers");
    const saved = await page.submit({ answers: { [question.id]: question.responses[0].id }, then: "stop" });
    assert.equal(saved.call_id, dialed.call_id);
    await until(() => page.state === "ended", "the end");
    assert.equal(page.session.ended.reason, "stopped");
    assert.deepEqual(seqs(other), seqs(page));

    // After the end, start opens a new session: the numbering starts over.
    await page.start();
    await until(() => page.session.session_id !== started.session_id && page.state !== "ready", "a new session");
    assert.equal(page.received.filter(([name]) => name === "session_started").length, 2);

    await page.signOut();
    await until(() => page.connection === "disconnected", "disconnected");
    other.disconnect();
    const after = device(cookie);
    await until(() => after.connection === "failed", "refused");
    assert.equal(after.connectionError.id, "session-ended");
    after.disconnect();
  });

const supervisorSkip = url && process.env.IMPACTDIALER_SUPERVISOR_EMAIL ? false
  : "needs a server and a supervisor: run through pytest (tests/sdk/test_node_sdk.py)";

test("a supervisor's floor: the caller shows, monitor switches modes, kick ends the session", { skip: supervisorSkip, timeout: 60_000 },
  async (t) => {
    const response = await fetch(`${url}/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: process.env.IMPACTDIALER_SUPERVISOR_EMAIL, password: process.env.IMPACTDIALER_PASSWORD }),
    });
    assert.equal(response.status, 200);
    const cookie = response.headers.get("set-cookie").split(";")[0];
    const floor = ImpactDialer.supervisor({ url, socketOptions: { withCredentials: false, extraHeaders: { Cookie: cookie } } });
    const worker = device(await signIn());
    t.after(() => floor.disconnect());
    const seqs = [];
    floor.on("event", (name, data) => seqs.push(data.seq));

    await until(() => floor.connection === "connected" && worker.state === "ready",
      () => `the floor and a caller: ${floor.connection} ${floor.connectionError?.id} ${worker.connection} ${worker.state} ${worker.connectionError?.id}`);
    await until(() => floor.sessions.some((row) => row.session_id === worker.session.session_id), "the caller on the floor");
    await worker.start();
    await until(() => worker.state === "previewing", "previewing");
    await worker.dial();
    const sessionId = worker.session.session_id;
    await until(() => floor.floor.sessions[sessionId]?.state === "on_call", "on a call, on the floor");
    assert.equal(floor.floor.sessions[sessionId].lead_phone, worker.session.household.phone);

    for (const mode of ImpactDialer.MODES) {
      assert.deepEqual(await floor.monitor(sessionId, mode), { session_id: sessionId, mode });
      await until(() => floor.floor.supervisor.monitoring === sessionId && floor.floor.supervisor.mode === mode, mode);
      assert.deepEqual(floor.floor.sessions[sessionId].monitors.map((m) => m.mode), [mode]);
    }
    const refused = await floor.reassign(sessionId, 999_999).catch((error) => error);
    assert.equal(refused.id, "no-such-campaign");

    await floor.kick(sessionId);
    await until(() => worker.state === "ended" && !(sessionId in floor.floor.sessions), "kicked");
    assert.equal(worker.session.ended.reason, "kicked");
    assert.equal(floor.floor.supervisor.monitoring, null);
    // What the console was handed: in order, once each (a floor starts the count).
    assert.deepEqual(seqs.slice(1), seqs.slice(1).map((_, i) => seqs[0] + i + 1));
  });
