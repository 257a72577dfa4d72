/**
 * `ImpactDialer.supervisor({url})`: a supervisor's or admin's live view of the calling floor
 * over `/monitor`, and what they do to it: listen, coach or barge (`monitor`), kick, reassign,
 * switch recording. Every server event is emitted under its name, once, in order; `change`
 * with the whole floor after each; `connection` as for the caller. `console.floor` is the floor.
 */
import { Channel } from "./channel.js";
import { FloorSequence } from "./sequence.js";
import { initialFloor, reduceFloor } from "./supervisor-state.js";

export const MODES = Object.freeze(["listen", "coach", "barge"]);

export class SupervisorConsole extends Channel {
  /** @param {import("../types/index").Options} [options] */
  constructor(options = {}) {
    super("/monitor", { ...options, autoConnect: false, sequence: new FloorSequence() });
    this.floor = initialFloor();
    if (options.autoConnect !== false) this.connect();
  }

  /** The campaigns, in the order of their names. */
  get campaigns() {
    return Object.values(this.floor.campaigns).sort((a, b) => String(a.name).localeCompare(String(b.name)));
  }

  /** The live caller sessions, oldest first. */
  get sessions() {
    return Object.values(this.floor.sessions).sort((a, b) => a.session_id - b.session_id);
  }

  /**
   * Connect the supervisor's phone to a caller's conference: `listen` (hear both sides),
   * `coach` (talk to the caller only) or `barge` (join the call). Called again, it switches
   * the mode or the caller without dropping the phone.
   * @param {number} sessionId @param {"listen" | "coach" | "barge"} [mode]
   */
  monitor(sessionId, mode = "listen") {
    return this.command("monitor", { session_id: sessionId, mode });
  }

  stopMonitoring() {
    return this.command("stop_monitoring");
  }

  /** End a caller's session (and their sign-in). @param {number} sessionId */
  kick(sessionId) {
    return this.command("kick", { session_id: sessionId });
  }

  /** Move a caller to another campaign (after their call under way). */
  reassign(sessionId, campaignId) {
    return this.command("reassign", { session_id: sessionId, campaign_id: campaignId });
  }

  /** Admins: record the account's calls, or stop. @param {boolean} enabled */
  setRecording(enabled) {
    return this.command("set_recording", { enabled: Boolean(enabled) });
  }

  /** A PIN to phone in with, instead of being called: `{number, pin, expires_in}`. */
  dialIn() {
    return this.command("dial_in");
  }

  _apply(name, data) {
    this.floor = reduceFloor(this.floor, name, data);
  }

  _state() {
    return this.floor;
  }
}
