import ImpactDialer, { ImpactDialerError, type CallerState, type FloorState } from "../types/index.js";
import { renderMarkdown } from "../types/markdown.js";

const caller = ImpactDialer.caller({ url: "https://dialer.example.org" });
caller.on("state", (state: CallerState, detail) => console.log(state, detail.reason));
caller.on("lead_presented", (data) => console.log(data.household.phone, data.seq));
caller.on("connection", (status) => console.log(status));
async function work(): Promise<void> {
  await caller.start({ dial_in: true });
  const { call_id } = await caller.dial();
  try {
    await caller.hangup();
  } catch (error) {
    if (error instanceof ImpactDialerError) console.log(error.id);
  }
  const saved = await caller.submit({ answers: { 1: 2 }, notes: { 1: "x" }, then: "stop" });
  console.log(call_id, saved.retry, caller.session.script?.questions[0].text, renderMarkdown("**x**"));
}
const sup = ImpactDialer.supervisor();
sup.on("change", (floor: FloorState) => console.log(Object.keys(floor.sessions)));
sup.on("monitoring_changed", (data) => console.log(data.mode));
async function watch(): Promise<void> {
  const first = sup.sessions[0];
  await sup.monitor(first.session_id, "coach");
  await sup.reassign(first.session_id, sup.campaigns[0].campaign_id);
  await sup.kick(first.session_id);
}
void work; void watch;
