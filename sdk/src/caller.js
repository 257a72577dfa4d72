/**
 * `ImpactDialer.caller({url})`: a caller's live session over `/caller` (docs/events.md).
 *
 * Every server event is emitted under its own name with its payload, once, in order; `state`
 * is emitted when the caller's state changes (always the server's), `connection` when the
 * connection does. `caller.session` is the whole session as the events describe it.
 */
import { Channel } from "./channel.js";
import { initialCallerState, reduceCaller } from "./caller-state.js";
import { ImpactDialerError } from "./errors.js";

const NEW_SESSION_TIMEOUT_MS = 10_000;

export class CallerDevice extends Channel {
  /** @param {import("../types/index").Options} [options] */
  constructor(options = {}) {
    super("/caller", { ...options, autoConnect: false });
    this.session = initialCallerState();
    /** @type {Map<string, string>} one idempotency key per call: a repeated submit stores nothing twice */
    this._submitKeys = new Map();
    if (options.autoConnect !== false) this.connect();
  }

  /** The caller's state (`ready`, `connecting`, `on_hold`, `previewing`, `dialing`, `on_call`,
   * `transfer`, `wrap_up`, `ended`), or null before the session's first event. */
  get state() {
    return this.session.state;
  }

  /**
   * Join the session: ring the caller's phone (their own, or `phone`), or with `dial_in: true`
   * wait for them to phone the dial-in number with the PIN. After a session ended, this opens
   * a new one first.
   * @param {{phone?: string, dial_in?: boolean}} [options]
   */
  async start(options = {}) {
    if (this.session.state === "ended" && !this._waitingForResults()) await this._newSession();
    return this.command("start", options);
  }

  dial() {
    return this.command("dial");
  }

  skip() {
    return this.command("skip");
  }

  hangup() {
    return this.command("hangup");
  }

  /** @param {number} transferId one of `session.script.transfers` */
  transfer(transferId) {
    return this.command("transfer", { transfer_id: transferId });
  }

  /** @param {"caller" | "transfer"} party `caller`: leave a warm transfer; `transfer`: drop the party */
  kick(party) {
    return this.command("kick", { party });
  }

  dropMessage() {
    return this.command("drop_message");
  }

  /**
   * Store the call's results, then the next lead (`then: "continue"`) or the end (`"stop"`).
   * `call_id` and `lead_id` default to the call in wrap-up and its household's first lead; the
   * idempotency `key` is the same for every try on one call, so a retry after a timeout
   * stores nothing twice.
   * @param {import("../types/index").Submission} results
   */
  submit(results = {}) {
    const callId = results.call_id ?? this.session.call?.call_id;
    const leadId = results.lead_id ?? this.session.household?.leads?.[0]?.id;
    if (callId === undefined) {
      return Promise.reject(new ImpactDialerError("no-such-call", "There is no call to save results for.",
        { command: "submit" }));
    }
    if (!this._submitKeys.has(callId)) this._submitKeys.set(callId, randomKey());
    return this.command("submit", {
      call_id: callId,
      lead_id: leadId,
      answers: results.answers ?? {},
      notes: results.notes ?? {},
      then: results.then ?? "continue",
      key: results.key ?? this._submitKeys.get(callId),
    });
  }

  stop() {
    return this.command("stop");
  }

  _apply(name, data) {
    const before = this.session.state;
    this.session = reduceCaller(this.session, name, data);
    if (name === "results_saved") this._submitKeys.delete(data.call_id);
    if (this.session.state !== before) {
      this._emit("state", this.session.state, { previous: before, reason: stateReason(name, data) });
    }
  }

  _state() {
    return this.session;
  }

  _waitingForResults() {
    const call = this.session.call;
    return call !== null && call.status !== "dialing" && call.status !== "ringing" && call.status !== "connected";
  }

  /** The session ended: reconnect, and the server opens a new one. */
  _newSession() {
    const ended = this.session.session_id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("session_started", started);
        reject(new ImpactDialerError("session-ended", "Could not open a new session; try again.", { command: "start" }));
      }, NEW_SESSION_TIMEOUT_MS);
      const started = (data) => {
        if (data.session_id === ended) return;
        clearTimeout(timer);
        this.off("session_started", started);
        resolve();
      };
      this.on("session_started", started);
      this.reopen();
    });
  }
}

function stateReason(name, data) {
  if (name === "state_changed") return data.reason ?? null;
  if (name === "session_ended") return data.reason ?? null;
  return name;
}

function randomKey() {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
