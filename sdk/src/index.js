/**
 * Impact Dialing's browser SDK.
 *
 *     import ImpactDialer from "@impactdialing/sdk";
 *     const caller = ImpactDialer.caller({ url: "https://dialer.example.org" });
 *     caller.on("state", (state) => render(state));
 *     await caller.start();
 *
 *     const console = ImpactDialer.supervisor();
 *     console.on("change", (floor) => render(floor));
 *     await console.monitor(sessionId, "listen");
 *
 * See docs/sdk.md.
 */
import { CallerDevice } from "./caller.js";
import { ImpactDialerError } from "./errors.js";
import { escapeHtml, renderMarkdown } from "./markdown.js";
import { MODES, SupervisorConsole } from "./supervisor.js";

export const version = "0.1.0";

/** A caller's live session (`/caller`). @param {import("../types/index").Options} [options] */
export function caller(options) {
  return new CallerDevice(options);
}

/** A supervisor's or admin's live floor (`/monitor`). @param {import("../types/index").Options} [options] */
export function supervisor(options) {
  return new SupervisorConsole(options);
}

export { CallerDevice, ImpactDialerError, MODES, SupervisorConsole, escapeHtml, renderMarkdown };

const ImpactDialer = { version, caller, supervisor, MODES, ImpactDialerError, renderMarkdown };
export default ImpactDialer;
