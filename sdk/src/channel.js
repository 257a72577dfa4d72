/**
 * One live connection to a namespace (`/caller`, `/monitor`): the socket, its connection
 * states, the numbering of the server's events (never a gap, never a duplicate), and commands
 * as promises. `CallerDevice` and `SupervisorConsole` are built on it.
 */
import { io } from "socket.io-client";

import { Emitter } from "./emitter.js";
import { ImpactDialerError, errorFromAck, errorFromConnectError } from "./errors.js";
import { EventSequence } from "./sequence.js";

export const COMMAND_TIMEOUT_MS = 20_000;
/** Refusals that pass: the server is busy, or no engine answered. Tried again, at growing
 * intervals (up to {@link RETRY_MAX_MS}), as "reconnecting"; every other refusal is "failed". */
export const RETRYABLE = new Set(["server-busy", "engine-unavailable"]);
export const RETRY_FIRST_MS = 500;
export const RETRY_MAX_MS = 10_000;

export class Channel extends Emitter {
  /**
   * @param {string} namespace `/caller` or `/monitor`
   * @param {import("../types/index").Options} options
   */
  constructor(namespace, options = {}) {
    super();
    this.url = (options.url ?? "").replace(/\/+$/, "");
    this.namespace = namespace;
    this.commandTimeout = options.commandTimeout ?? COMMAND_TIMEOUT_MS;
    this.sequence = options.sequence ?? new EventSequence();
    /** @type {"connecting" | "connected" | "reconnecting" | "disconnected" | "failed"} */
    this.connection = "connecting";
    /** @type {ImpactDialerError | null} why the connection failed, when it did */
    this.connectionError = null;
    this._resyncing = false;
    this._reopening = false;
    this._retries = 0;
    this._retryTimer = null;
    this.retryFirstMs = options.retryFirstMs ?? RETRY_FIRST_MS;
    this._headers = options.socketOptions?.extraHeaders ?? {};
    this.socket = io(this.url + namespace, {
      transports: ["websocket"],
      withCredentials: true,
      // A connection of its own: socket.io-client would otherwise share one per server between
      // objects, with the first one's headers and one object's reconnect dropping the others.
      forceNew: true,
      autoConnect: false,
      // Called on every (re)connect: the server sends what this page missed since.
      auth: (send) => send(this.sequence.auth()),
      ...(options.socketOptions ?? {}),
    });
    this._wire();
    this._watchBrowserNetwork();
    if (options.autoConnect !== false) this.connect();
  }

  /** Connect (again, after `disconnect()` or a failure). */
  connect() {
    if (this.socket.connected) return this;
    this.connectionError = null;
    this._setConnection(this.connection === "connected" || this.connection === "reconnecting" ? "reconnecting" : "connecting");
    this.socket.connect();
    return this;
  }

  /** Close the connection and open it again at once: the server attaches it afresh. */
  reopen() {
    this._reopening = true;
    this.socket.disconnect();
    this.socket.connect();
    return this;
  }

  /** Close the connection; the session on the server lives on (a caller's for a minute). */
  disconnect() {
    this._cancelRetry();
    this.socket.disconnect();
    return this;
  }

  /** Send a command; resolves with its acknowledgement (without `ok`), rejects with an
   * {@link ImpactDialerError} carrying the server's error `id`. */
  command(name, payload = {}) {
    return new Promise((resolve, reject) => {
      if (!this.socket.connected) {
        reject(new ImpactDialerError("not-connected",
          "Not connected to the server; try again when the connection is back.", { command: name }));
        return;
      }
      this.socket.timeout(this.commandTimeout).emit(name, payload, (err, ack) => {
        if (err) {
          reject(new ImpactDialerError("timeout",
            "The server did not answer in time; the command may or may not have been carried out.",
            { command: name }));
        } else if (ack && ack.ok === true) {
          const { ok, ...rest } = ack;
          resolve(rest);
        } else {
          reject(errorFromAck(name, ack));
        }
      });
    });
  }

  /** Sign out (a caller's session ends on every device), then close the connection. One copy
   * for callers and supervisors: both sign out of the same cookie the same way. */
  async signOut() {
    try {
      await this._post("/logout", {});
    } catch (error) {
      if (error instanceof ImpactDialerError) throw error;
      throw new ImpactDialerError("sign-out-failed", "Could not reach the server to sign out.", { command: "signOut" });
    } finally {
      this.disconnect();
    }
  }

  /** Overridden: what an accepted event does to the object's state. */
  _apply(name, data) {} // eslint-disable-line no-unused-vars

  /** Overridden: what `change` listeners get. */
  _state() {
    return undefined;
  }


  _wire() {
    const socket = this.socket;
    socket.on("connect", () => {
      this._reopening = false;
      this._retries = 0;
      this.connectionError = null;
      this._resyncing = false;
      this._setConnection("connected");
    });
    socket.on("disconnect", (reason) => {
      // "io server disconnect" (signed out elsewhere, kicked) and our own disconnect() stay
      // closed; anything else (network, server restart) is retried by socket.io-client.
      this._setConnection(socket.active || this._reopening ? "reconnecting" : "disconnected", reason);
    });
    socket.on("connect_error", (err) => {
      if (socket.active) {
        this._setConnection("reconnecting", err && err.message);
        return;
      }
      this.connectionError = errorFromConnectError(err);
      if (RETRYABLE.has(this.connectionError.id)) {
        this._retryLater();
        this._setConnection("reconnecting", this.connectionError);
        return;
      }
      this._setConnection("failed", this.connectionError);
    });
    socket.io.on("reconnect_failed", () => {
      this.connectionError = new ImpactDialerError("connection-failed", "Cannot reach the server.");
      this._setConnection("failed", this.connectionError);
    });
    socket.onAny((name, data) => this._receive(name, data));
  }

  _receive(name, data) {
    const verdict = this.sequence.accept(name, data);
    if (verdict === "drop") return;
    if (verdict === "resync") {
      this._resync();
      return;
    }
    this._apply(name, data);
    this._emit(name, data);
    this._emit("event", name, data);
    this._emit("change", this._state());
  }

  /** Ask for what was missed; one request at a time (it brings everything after `last_seq`). */
  async _resync() {
    if (this._resyncing || !this.socket.connected) return;
    this._resyncing = true;
    try {
      await this.command("resync", this.sequence.resync());
    } catch (error) {
      this._emit("error", error);
    } finally {
      this._resyncing = false;
    }
  }

  _retryLater() {
    this._cancelRetry();
    const delay = Math.min(this.retryFirstMs * 2 ** this._retries, RETRY_MAX_MS);
    this._retries += 1;
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this.socket.connected) this.socket.connect();
    }, delay);
  }

  _cancelRetry() {
    if (this._retryTimer !== null) clearTimeout(this._retryTimer);
    this._retryTimer = null;
  }

  _setConnection(status, detail) {
    if (status === this.connection) return;
    this.connection = status;
    this._emit("connection", status, detail);
  }

  /** A browser that knows it is offline: say so at once, rather than when the socket's ping
   * times out; back online, reconnect at once rather than at the next back-off. */
  _watchBrowserNetwork() {
    const target = globalThis.window;
    if (!target || typeof target.addEventListener !== "function") return;
    target.addEventListener("offline", () => {
      if (this.socket.connected) this.socket.io.engine?.close();
    });
    target.addEventListener("online", () => {
      if (!this.socket.connected && this.socket.active) this.socket.disconnect().connect();
    });
  }

  /** A POST to the server with the cookie (sign-out). */
  async _post(path, body) {
    const response = await fetch(this.url + path, {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json", ...this._headers },
      body: JSON.stringify(body ?? {}),
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok) throw errorFromAck(path, answer);
    return answer;
  }
}
