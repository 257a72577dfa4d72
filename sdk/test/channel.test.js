// The SDK's connection against a faithful fake of the server: a socket.io server of the test's
// own that numbers events as /caller does, but can be told to misbehave (skip a number, repeat
// one, drop the connection, refuse it) - which the real server never does on purpose.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { Server } from "socket.io";

import ImpactDialer from "../src/index.js";

let http;
let io;
let url;
let refusals = []; // what the next handshakes are refused with, in order
let onConnect = () => {};
const auths = [];

before(async () => {
  http = createServer();
  io = new Server(http, { transports: ["websocket"] });
  io.of("/caller").use((socket, next) => {
    auths.push(socket.handshake.auth);
    const refusal = refusals.shift();
    if (!refusal) return next();
    const error = new Error(refusal.message);
    error.data = refusal;
    return next(error);
  });
  io.of("/caller").on("connection", (socket) => onConnect(socket));
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${http.address().port}`;
});

after(() => {
  for (const caller of opened) caller.disconnect(); // a failed test leaves nothing running
  io.close();
  http.close();
});

const envelope = (seq, session_id = 17) => ({ seq, session_id, at: new Date().toISOString() });

const opened = [];

function device() {
  const caller = ImpactDialer.caller({ url, commandTimeout: 500, retryFirstMs: 20 });
  opened.push(caller);
  caller.seen = [];
  caller.connections = [];
  caller.on("event", (name, data) => caller.seen.push(data.seq));
  caller.on("connection", (status) => caller.connections.push(status));
  return caller;
}

function until(predicate, what, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (predicate()) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > timeout) {
        clearInterval(poll);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 5);
  });
}

test("a gap is filled by a resync before anything after it is shown", async () => {
  const resyncs = [];
  onConnect = (socket) => {
    socket.on("resync", (payload, ack) => {
      resyncs.push(payload);
      ack({ ok: true, replayed: 1, snapshot: false, last_seq: 4 });
      socket.emit("state_changed", { ...envelope(3), state: "on_hold" });
      socket.emit("state_changed", { ...envelope(4), state: "previewing" });
    });
    socket.emit("session_started", { ...envelope(1), caller: null, campaign: null, script: null, dial_in: null });
    socket.emit("state_changed", { ...envelope(2), state: "connecting" });
    socket.emit("state_changed", { ...envelope(4), state: "previewing" }); // 3 went missing
  };
  const caller = device();
  await until(() => caller.seen.length === 4, "four events");
  assert.deepEqual(caller.seen, [1, 2, 3, 4]);
  assert.deepEqual(resyncs, [{ last_seq: 2 }]);
  assert.equal(caller.state, "previewing");
  caller.disconnect();
});

test("repeats are dropped, and a reconnect says what the page has", async () => {
  auths.length = 0;
  let connections = 0;
  onConnect = (socket) => {
    connections += 1;
    if (connections === 1) {
      for (const seq of [1, 2, 2, 1, 3]) socket.emit("state_changed", { ...envelope(seq), state: "on_hold" });
      setTimeout(() => socket.conn.close(), 50); // the network drops
    } else {
      // The server replays from what the page says it has; an overlap is harmless.
      for (const seq of [3, 4]) socket.emit("state_changed", { ...envelope(seq), state: "on_hold" });
    }
  };
  const caller = device();
  await until(() => caller.seen.length === 4, "four events");
  assert.deepEqual(caller.seen, [1, 2, 3, 4]);
  assert.deepEqual(auths, [{ last_seq: 0 }, { session_id: 17, last_seq: 3 }]);
  assert.deepEqual(caller.connections, ["connected", "reconnecting", "connected"]);
  caller.disconnect();
});

test("a busy server is tried again; a refusal that will not pass is final", async () => {
  onConnect = () => {};
  refusals = [{ id: "server-busy", message: "busy" }, { id: "engine-unavailable", message: "no engine" }];
  const busy = device();
  await until(() => busy.connection === "connected", "connected after two refusals");
  assert.deepEqual(busy.connections, ["reconnecting", "connected"]);
  busy.disconnect();
  assert.equal(busy.connection, "disconnected");

  refusals = [{ id: "not-signed-in", message: "Sign in first." }];
  const refused = device();
  await until(() => refused.connection === "failed", "failed");
  assert.equal(refused.connectionError.id, "not-signed-in");
  assert.equal(refused.connectionError.message, "Sign in first.");
  refused.disconnect();
});

test("commands: the server's error id, an unanswered command, a command while offline", async () => {
  onConnect = (socket) => {
    socket.on("dial", (payload, ack) => ack({ ok: false, error: { id: "not-previewing", message: "Nothing to dial." } }));
    socket.on("skip", () => {}); // never answers
    socket.on("hangup", (payload, ack) => ack({ ok: true, call_id: "c1" }));
  };
  const caller = device();
  await until(() => caller.connection === "connected", "connected");
  await assert.rejects(caller.dial(), { name: "ImpactDialerError", id: "not-previewing", message: "Nothing to dial." });
  await assert.rejects(caller.skip(), { id: "timeout", command: "skip" });
  assert.deepEqual(await caller.hangup(), { call_id: "c1" });
  caller.disconnect();
  await assert.rejects(caller.hangup(), { id: "not-connected" });
});
