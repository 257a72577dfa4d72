import assert from "node:assert/strict";
import { test } from "node:test";

import { ImpactDialerError, errorFromAck, errorFromConnectError } from "../src/errors.js";

test("a refused command rejects with the server's id and message", () => {
  const error = errorFromAck("dial", { ok: false, error: { id: "not-previewing", message: "No household." } });
  assert.ok(error instanceof Error && error instanceof ImpactDialerError);
  assert.deepEqual([error.id, error.message, error.command], ["not-previewing", "No household.", "dial"]);
});

test("an answer the SDK cannot read is a server error, never a success", () => {
  for (const ack of [undefined, null, "ok", { ok: false }, { error: "boom" }]) {
    assert.equal(errorFromAck("stop", ack).id, "server-error");
  }
});

test("a refused connection carries the server's id; an unreachable server says so", () => {
  const refused = Object.assign(new Error("Sign in first."), { data: { id: "not-signed-in", message: "Sign in first." } });
  assert.equal(errorFromConnectError(refused).id, "not-signed-in");
  assert.equal(errorFromConnectError(new Error("websocket error")).id, "connection-failed");
});
