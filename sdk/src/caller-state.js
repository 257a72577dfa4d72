/**
 * The caller's session as the server's events describe it: a pure function from the state
 * before an event and the event to the state after, so that an application can render from
 * one object and a reconnect (replayed events, or a snapshot) always ends on the server's state.
 */

/** @returns {import("../types/index").CallerSessionState} */
export function initialCallerState() {
  return {
    session_id: null,
    state: null,
    caller: null,
    campaign: null,
    script: null,
    dial_in: null,
    calling_hours: null,
    household: null,
    call: null,
    transfer: null,
    pending: null,
    ended: null,
    last_seq: 0,
  };
}

/** The state after one event (a new object; the one given is not changed). */
export function reduceCaller(before, name, data) {
  const s = { ...before, session_id: data.session_id ?? before.session_id, last_seq: data.seq ?? before.last_seq };
  switch (name) {
    case "session_started":
      return {
        ...initialCallerState(),
        session_id: data.session_id,
        last_seq: data.seq,
        state: "ready",
        caller: data.caller ?? null,
        campaign: data.campaign ?? null,
        script: data.script ?? null,
        dial_in: data.dial_in ?? null,
      };
    case "state_changed":
      s.state = data.state;
      if (data.state === "previewing" || data.state === "on_hold") s.transfer = null;
      return s;
    case "calling_hours":
      s.calling_hours = { open: data.open, closes_at: data.closes_at ?? null, opens_at: data.opens_at ?? null };
      return s;
    case "lead_presented":
      return nextLead(s, data.household, null);
    case "call_dialing":
      return nextLead(s, data.household ?? s.household, { call_id: data.call_id, status: "dialing", since: data.at });
    case "call_ringing":
      if (s.call && s.call.call_id === data.call_id) s.call = { ...s.call, status: "ringing" };
      return s;
    case "call_connected":
      // Predictive: the first the caller hears of the call; preview and power: the lead they have.
      if (s.call && s.call.call_id === data.call_id) {
        s.call = { ...s.call, status: "connected", since: data.at };
        s.household = data.household ?? s.household;
        return s;
      }
      return nextLead(s, data.household, { call_id: data.call_id, status: "connected", since: data.at });
    case "call_ended":
      if (s.call && s.call.call_id === data.call_id) {
        s.call = { ...s.call, status: data.status, ended_by: data.by ?? null, ended_at: data.at };
      }
      return s;
    case "results_saved":
      if (s.call && s.call.call_id === data.call_id) s.call = null;
      s.household = null;
      s.transfer = null;
      return s;
    case "transfer_dialing":
      s.transfer = { transfer_id: data.transfer_id, kind: data.kind, label: data.label, status: "dialing" };
      return s;
    case "transfer_connected":
      s.transfer = { ...(s.transfer ?? { transfer_id: data.transfer_id, label: "" }), kind: data.kind,
        status: "connected" };
      return s;
    case "transfer_ended":
      s.transfer = null;
      return s;
    case "script_changed":
      // Shown from the next lead: the call under way answers the script it had.
      s.pending = { ...(s.pending ?? {}), script: data.script };
      return s.household === null && s.call === null ? applyPending(s) : s;
    case "campaign_changed":
      s.pending = { ...(s.pending ?? {}), campaign: data.campaign, script: data.script };
      return s.household === null && s.call === null ? applyPending(s) : s;
    case "session_ended":
      s.state = "ended";
      s.ended = { reason: data.reason, at: data.at };
      s.transfer = null;
      return s;
    case "snapshot":
      return {
        ...s,
        state: data.state,
        household: data.household ?? null,
        call: data.call ? { ...data.call } : null,
        transfer: data.transfer ?? null,
        campaign: data.campaign ?? s.campaign,
        script: data.script ?? s.script,
        pending: null,
        ended: data.state === "ended" ? (s.ended ?? { reason: null, at: data.at }) : null,
      };
    default:
      return s;
  }
}

function nextLead(s, household, call) {
  const moved = applyPending(s);
  moved.household = household ?? null;
  moved.call = call;
  return moved;
}

function applyPending(s) {
  if (!s.pending) return s;
  return {
    ...s,
    campaign: s.pending.campaign ?? s.campaign,
    script: s.pending.script ?? s.script,
    pending: null,
  };
}
