/**
 * The calling floor as a supervisor's console sees it (`/monitor`): a pure function from the
 * floor before an event and the event to the floor after. `floor` replaces everything; the
 * other events change one campaign, one caller session, or the account's switches.
 */

/** @returns {import("../types/index").FloorState} */
export function initialFloor() {
  return {
    stream: null,
    last_seq: 0,
    campaigns: {},
    sessions: {},
    recording: false,
    supervisor: null,
    dial_in_number: null,
    phone_connected: false,
  };
}

export function reduceFloor(before, name, data) {
  const f = { ...before, last_seq: data.seq ?? before.last_seq };
  switch (name) {
    case "floor": {
      const sessions = byId(data.sessions, "session_id");
      const me = data.supervisor ?? null;
      // The floor says whom this supervisor monitors; the mode is on that caller's row.
      const mine = me && me.monitoring != null
        ? ((sessions[me.monitoring] || {}).monitors || []).find((m) => m.supervisor && m.supervisor.id === me.id)
        : null;
      return {
        ...initialFloor(),
        stream: data.stream ?? null,
        last_seq: data.seq,
        campaigns: byId(data.campaigns, "campaign_id"),
        sessions,
        recording: Boolean(data.recording),
        supervisor: me ? { ...me, mode: mine ? mine.mode : null } : null,
        dial_in_number: data.dial_in_number ?? null,
        phone_connected: Boolean(mine),
      };
    }
    case "session_updated":
      if (data.session) f.sessions = { ...f.sessions, [data.session.session_id]: data.session };
      return f;
    case "session_ended": {
      const { [data.session_id]: ended, ...rest } = f.sessions; // eslint-disable-line no-unused-vars
      f.sessions = rest;
      if (f.supervisor && f.supervisor.monitoring === data.session_id) f.supervisor = { ...f.supervisor, monitoring: null };
      return f;
    }
    case "campaign_updated":
      if (data.campaign) f.campaigns = { ...f.campaigns, [data.campaign.campaign_id]: data.campaign };
      return f;
    case "campaign_removed": {
      const { [data.campaign_id]: removed, ...rest } = f.campaigns; // eslint-disable-line no-unused-vars
      f.campaigns = rest;
      return f;
    }
    case "monitoring_changed":
      return monitoringChanged(f, data);
    case "phone_changed":
      if (f.supervisor && data.supervisor && data.supervisor.id === f.supervisor.id) f.phone_connected = Boolean(data.connected);
      return f;
    case "recording_changed":
      f.recording = Boolean(data.enabled);
      return f;
    default:
      return f;
  }
}

/** Who listens to whom, in which mode: on the session's row, and on the console's own supervisor.
 * A supervisor listens to one caller at a time: a mode on one session takes them off any other;
 * a null mode (they left) takes them off that session only, whatever order a move's two events
 * come in. */
function monitoringChanged(f, data) {
  const who = data.supervisor || {};
  const sessions = { ...f.sessions };
  for (const [id, row] of Object.entries(sessions)) {
    const here = Number(id) === data.session_id;
    if (!here && !data.mode) continue;
    const monitors = (row.monitors || []).filter((m) => !m.supervisor || m.supervisor.id !== who.id);
    if (here && data.mode) monitors.push({ supervisor: who, mode: data.mode });
    if (here || monitors.length !== (row.monitors || []).length) sessions[id] = { ...row, monitors };
  }
  f.sessions = sessions;
  if (f.supervisor && who.id === f.supervisor.id) {
    if (data.mode) f.supervisor = { ...f.supervisor, monitoring: data.session_id, mode: data.mode };
    else if (f.supervisor.monitoring === data.session_id) f.supervisor = { ...f.supervisor, monitoring: null, mode: null };
  }
  return f;
}

function byId(rows, key) {
  const out = {};
  for (const row of rows || []) out[row[key]] = row;
  return out;
}
