// The supervisor console: the floor is the SDK's (pushed by the server, never polled), and
// every action is an SDK command. Names and numbers from the server are set as text.
import ImpactDialer from "@impactdialing/sdk";
import { connectionBanner } from "./connection-banner.js";

const $ = (id) => document.getElementById(id);
const floorConsole = ImpactDialer.supervisor();

const STATE_TEXT = {
  ready: "Ready", connecting: "Joining", on_hold: "Waiting", previewing: "Previewing", dialing: "Dialing",
  on_call: "On a call", transfer: "Transferring", wrap_up: "Wrap-up",
};
const MODE_TEXT = { listen: "listening", coach: "coaching", barge: "on the call" };
const FAILED_TEXT = {
  "not-a-supervisor": "This console is for supervisors and admins. Callers use the caller app.",
};

let busy = false;
let recordingAsked = null;
let kickTarget = null;
let reassignTarget = null;
const rows = new Map();

// -- what a person sees ------------------------------------------------------------------------

function render() {
  const floor = floorConsole.floor;
  const me = floor.supervisor;
  const live = floorConsole.connection === "connected";
  $("who").textContent = me ? `${me.name} (${me.role})` : "";
  $("recording-row").hidden = !me || me.role !== "admin";
  // What the admin asked for shows until the server's recording_changed says what is.
  $("recording").checked = recordingAsked ?? floor.recording;
  $("recording-status").textContent = floor.recording ? "Calls are recorded." : "Calls are not recorded.";
  $("recording").disabled = busy || !live;

  const watched = me && me.monitoring ? floor.sessions[me.monitoring] : null;
  $("listening").textContent = watched
    ? `You are ${MODE_TEXT[me.mode] || "listening"} with ${watched.caller.name}${me.mode ? ` (${me.mode})` : ""}.`
    : "You are not listening to anyone.";
  $("stop-monitoring").hidden = !watched;
  $("phone-status").textContent = me && !me.phone_endpoint
    ? "You have no phone on file: dial in to listen." : floor.phone_connected ? "Your phone is connected." : "";
  $("dial-in-button").hidden = !(me && floor.dial_in_number);

  const campaigns = floorConsole.campaigns;
  $("no-campaigns").hidden = campaigns.length > 0;
  $("tiles").replaceChildren(...campaigns.map(tile));

  const sessions = floorConsole.sessions;
  $("no-callers").hidden = sessions.length > 0;
  $("callers").hidden = sessions.length === 0;
  // Rows are kept and updated in place: a button that has the focus keeps it as the floor moves.
  const body = $("caller-rows");
  const seen = new Set();
  for (const session of sessions) {
    seen.add(session.session_id);
    if (!rows.has(session.session_id)) rows.set(session.session_id, callerRow(session.session_id));
    const row = rows.get(session.session_id);
    updateRow(row, session, floor, me, live);
    body.append(row); // in order; a row already there just moves
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.remove();
      rows.delete(id);
    }
  }
  tick();
}

function tile(campaign) {
  const box = document.createElement("article");
  box.className = "tile";
  box.setAttribute("aria-label", `Campaign ${campaign.name}`);
  const heading = document.createElement("h3");
  heading.textContent = `${campaign.name} (${campaign.dialer_mode})`;
  const facts = {};
  const callers = campaign.callers || {};
  const working = Object.entries(callers).filter(([, n]) => n > 0);
  facts.Callers = working.length ? working.map(([state, n]) => `${n} ${(STATE_TEXT[state] || state).toLowerCase()}`).join(", ") : "none";
  facts["Lines ringing"] = String(campaign.lines_ringing ?? 0);
  facts["Leads left"] = campaign.households_left ?? "…";
  const abandonment = campaign.abandonment;
  if (abandonment) {
    facts["Abandoned, 24 h"] = rate(abandonment.last_24_hours, abandonment.limit);
    facts["Abandoned, 30 days"] = rate(abandonment.last_30_days, abandonment.limit);
  }
  if (campaign.pacer) facts.Pacer = `${campaign.pacer.lines_to_dial} line(s): ${campaign.pacer.reason}`;
  const list = document.createElement("dl");
  list.className = "fields";
  for (const [name, value] of Object.entries(facts)) {
    const term = document.createElement("dt");
    term.textContent = name;
    const detail = document.createElement("dd");
    detail.textContent = String(value);
    if (name.startsWith("Abandoned, 30") && abandonment && abandonment.over_limit) {
      detail.className = "over";
      detail.textContent += " (over the limit)";
    }
    list.append(term, detail);
  }
  box.append(heading, list);
  return box;
}

function rate(window, limit) {
  if (!window) return "…";
  const percent = (value) => `${(value * 100).toFixed(1)} %`;
  return `${percent(window.rate || 0)} of ${window.human_answered} answered (limit ${percent(limit || 0)})`;
}

function callerRow(sessionId) {
  const row = document.createElement("tr");
  row.dataset.session = String(sessionId);
  const name = document.createElement("th");
  name.scope = "row";
  row.append(name);
  for (const label of ["Campaign", "State", "Time in state", "Lead's phone", "Listening"]) {
    const cell = document.createElement("td");
    cell.dataset.label = label; // the label a phone-width card shows beside the value
    row.append(cell);
  }
  row.cells[3].classList.add("timer");
  const actions = document.createElement("td");
  const group = document.createElement("div");
  group.className = "actions";
  const modes = (ImpactDialer.MODES || ["listen", "coach", "barge"]).map((mode) => {
    const button = action(`${mode[0].toUpperCase()}${mode.slice(1)}`, "secondary");
    button.dataset.mode = mode;
    button.addEventListener("click", () => {
      const session = floorConsole.floor.sessions[sessionId];
      if (session) run(`${mode} to ${callerName(session)}`, () => floorConsole.monitor(sessionId, mode));
    });
    return button;
  });
  const move = action("Reassign", "secondary");
  move.dataset.action = "reassign";
  move.addEventListener("click", () => openReassign(floorConsole.floor.sessions[sessionId]));
  const kick = action("Kick", "danger");
  kick.dataset.action = "kick";
  kick.addEventListener("click", () => openKick(floorConsole.floor.sessions[sessionId]));
  group.append(...modes, move, kick);
  actions.append(group);
  row.append(actions);
  return row;
}

function callerName(session) {
  return session.caller.name || session.caller.username || `Caller ${session.caller.id}`;
}

function updateRow(row, session, floor, me, live) {
  const campaign = floor.campaigns[session.campaign_id];
  const name = callerName(session);
  const texts = [
    name,
    campaign ? campaign.name : `#${session.campaign_id}`,
    STATE_TEXT[session.state] || session.state,
    null,
    session.lead_phone || "—",
    (session.monitors || []).map((m) => `${m.supervisor.name} (${m.mode})`).join(", ") || "—",
  ];
  texts.forEach((text, index) => {
    if (text !== null && row.cells[index].textContent !== text) row.cells[index].textContent = text;
  });
  row.cells[3].dataset.since = session.since || "";
  const mine = me && me.monitoring === session.session_id ? me.mode : null;
  for (const button of row.querySelectorAll("button[data-mode]")) {
    const mode = button.dataset.mode;
    button.setAttribute("aria-label", `${button.textContent} ${name}`);
    button.setAttribute("aria-pressed", String(mine === mode));
    button.className = mine === mode ? "" : "secondary";
    button.disabled = busy || !live;
  }
  const move = row.querySelector('button[data-action="reassign"]');
  move.setAttribute("aria-label", `Reassign ${name}`);
  move.disabled = busy || !live || floorConsole.campaigns.length < 2;
  const kick = row.querySelector('button[data-action="kick"]');
  kick.setAttribute("aria-label", `Kick ${name}`);
  kick.disabled = busy || !live;
}

function action(text, style) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  if (style) button.className = style;
  return button;
}

function tick() {
  for (const cell of document.querySelectorAll("td.timer")) {
    const since = Date.parse(cell.dataset.since);
    if (Number.isNaN(since)) continue;
    const seconds = Math.max(0, Math.floor((Date.now() - since) / 1000));
    const minutes = Math.floor(seconds / 60);
    cell.textContent = minutes >= 60
      ? `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`
      : `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
  }
}

function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

const showConnection = connectionBanner({
  client: floorConsole,
  connectedText: "Live",
  droppedText: "The connection dropped. Reconnecting… the floor is brought up to date when it is back.",
  failedText: FAILED_TEXT,
});

function renderConnection(status, detail) {
  showConnection(status, detail);
  render();
}

// -- what a person does --------------------------------------------------------------------------

async function run(what, command) {
  if (busy) return null;
  busy = true;
  showError("");
  showNotice("");
  render();
  try {
    return await command();
  } catch (error) {
    showError(`Could not ${what}: ${error.message}`);
    return null;
  } finally {
    busy = false;
    render();
  }
}

function openKick(session) {
  if (!session) return;
  const name = callerName(session);
  kickTarget = session.session_id;
  $("kick-text").textContent = `${name}'s session ends now and they are signed out. A call under way is hung up.`;
  $("kick-heading").textContent = `Kick ${name}?`;
  $("kick-dialog").showModal();
}

function openReassign(session) {
  if (!session) return;
  const name = callerName(session);
  reassignTarget = session.session_id;
  $("reassign-heading").textContent = `Move ${name}`;
  $("reassign-text").textContent = `${name} moves after the call under way, if any.`;
  const options = floorConsole.campaigns.filter((c) => c.campaign_id !== session.campaign_id).map((c) => {
    const option = document.createElement("option");
    option.value = String(c.campaign_id);
    option.textContent = `${c.name} (${c.dialer_mode})`;
    return option;
  });
  $("reassign-campaign").replaceChildren(...options);
  $("reassign-dialog").showModal();
}

$("kick-dialog").addEventListener("close", () => {
  if ($("kick-dialog").returnValue === "confirm" && kickTarget !== null) {
    const target = kickTarget;
    run("kick the caller", () => floorConsole.kick(target));
  }
  kickTarget = null;
});
$("reassign-dialog").addEventListener("close", async () => {
  if ($("reassign-dialog").returnValue === "confirm" && reassignTarget !== null && $("reassign-campaign").value) {
    const session = floorConsole.floor.sessions[reassignTarget];
    const campaign = floorConsole.floor.campaigns[Number($("reassign-campaign").value)];
    reassignTarget = null;
    if (!session || !campaign) return;
    const answer = await run("move the caller", () => floorConsole.reassign(session.session_id, campaign.campaign_id));
    if (answer) {
      showNotice(answer.effective === "after_call"
        ? `${callerName(session)} moves to ${campaign.name} after the call under way.`
        : `${callerName(session)} moved to ${campaign.name}.`);
    }
  }
  reassignTarget = null;
});
$("stop-monitoring").addEventListener("click", () => run("stop listening", () => floorConsole.stopMonitoring()));
$("dial-in-button").addEventListener("click", async () => {
  const answer = await run("get a PIN", () => floorConsole.dialIn());
  if (!answer) return;
  $("dial-in-number").textContent = answer.number;
  $("dial-in-pin").textContent = answer.pin;
  $("dial-in").hidden = false;
});
$("recording").addEventListener("change", async (event) => {
  const enabled = event.target.checked;
  recordingAsked = enabled;
  const done = await run(enabled ? "start recording" : "stop recording", () => floorConsole.setRecording(enabled));
  if (done === null || floorConsole.floor.recording === enabled) recordingAsked = null;
  render();
});
floorConsole.on("recording_changed", () => {
  recordingAsked = null;
});
$("reconnect").addEventListener("click", () => floorConsole.connect());
$("sign-out").addEventListener("click", async () => {
  try {
    await floorConsole.signOut();
  } catch {
    // Whatever the answer, this page is done: go to sign-in.
  }
  window.location.assign("/login");
});

floorConsole.on("change", render);
floorConsole.on("connection", renderConnection);
setInterval(tick, 1000);
render();
