/** Errors the SDK's promises reject with: the server's stable kebab-case `id`, or one of the
 * SDK's own (`not-connected`, `timeout`, `connection-failed`, `sign-out-failed`). */
export class ImpactDialerError extends Error {
  /**
   * @param {string} id stable kebab-case id, e.g. `not-on-call`
   * @param {string} message for people
   * @param {{command?: string, details?: unknown}} [extra]
   */
  constructor(id, message, extra = {}) {
    super(message || id);
    this.name = "ImpactDialerError";
    this.id = id;
    this.command = extra.command;
    this.details = extra.details;
  }
}

/** The error an `{ok: false, error: {id, message}}` acknowledgement carries; anything
 * else the server could answer (nothing, a string) becomes `server-error`. */
export function errorFromAck(command, ack) {
  const error = ack && typeof ack === "object" ? ack.error : undefined;
  if (error && typeof error.id === "string") {
    return new ImpactDialerError(error.id, typeof error.message === "string" ? error.message : error.id,
      { command, details: error.details });
  }
  return new ImpactDialerError("server-error", "The server gave an answer the SDK cannot read.", { command });
}

/** A refused connection (`connect_error`): socket.io-client puts what the server added under `data`. */
export function errorFromConnectError(err) {
  const data = err && typeof err === "object" ? err.data : undefined;
  if (data && typeof data.id === "string") {
    return new ImpactDialerError(data.id, typeof data.message === "string" ? data.message : data.id);
  }
  return new ImpactDialerError("connection-failed",
    `Cannot reach the server${err && err.message ? ` (${err.message})` : ""}.`);
}
