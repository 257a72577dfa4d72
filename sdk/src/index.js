/**
 * Impact Dialing's browser SDK.
 *
 *     import ImpactDialer from "@impactdialing/sdk";
 *     const caller = ImpactDialer.caller({ url: "https://dialer.example.org" });
 *     caller.on("state", (state) => render(state));
 *     await caller.start();
 *
 * See docs/sdk.md.
 */
import { CallerDevice } from "./caller.js";
import { ImpactDialerError } from "./errors.js";
import { renderMarkdown } from "./markdown.js";

export const version = "0.1.0";

/** A caller's live session (`/caller`). @param {import("../types/index").Options} [options] */
export function caller(options) {
  return new CallerDevice(options);
}

export { CallerDevice, ImpactDialerError, renderMarkdown };

const ImpactDialer = { version, caller, ImpactDialerError, renderMarkdown };
export default ImpactDialer;
