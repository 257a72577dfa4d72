// The caller app: everything it shows comes from the SDK's session (the server's state), and
// everything it does is an SDK command. Text from the server (lead fields, names, labels) is
// set as text; script texts go through the SDK's escaping Markdown renderer.
import ImpactDialer, { renderMarkdown } from "@impactdialing/sdk";
import { connectionBanner } from "./connection-banner.js";

const $ = (id) => document.getElementById(id);
const caller = ImpactDialer.caller();

const STATE_TEXT = {
  ready: "Ready: choose how you join, then start calling.",
  on_hold: "Waiting for the next lead…",
  previewing: "Preview: read the lead, then dial or skip.",
  dialing: "Dialing…",
  on_call: "On a call",
  transfer: "Transferring the call",
  wrap_up: "Call ended: fill in the survey and save.",
  ended: "Session ended.",
};
const ENDED_TEXT = {
  stopped: "You stopped calling.",
  kicked: "A supervisor ended your session.",
  phone_hung_up: "Your phone hung up, so the session ended.",
  calling_hours: "Calling hours are over for this campaign.",
  out_of_leads: "There are no more leads to call in this campaign.",
  signed_out: "You signed out.",
  expired: "The session ended after a minute without your page or your phone.",
};
const CALL_TEXT = {
  dialing: "Dialing",
  ringing: "Ringing",
  connected: "Connected",
  completed: "Call ended",
  busy: "Busy",
  no_answer: "No answer",
  failed: "The call failed",
  machine: "Answering machine",
  voicemail_left: "Voicemail left",
  abandoned: "The lead hung up before you joined",
  cancelled: "Call cancelled",
  wrap_up: "Call ended",
};
const ENDED_BY = { lead: "the lead hung up", caller: "you hung up", system: "ended by the system" };
const FAILED_TEXT = {
  "not-a-caller": "This page is for callers. Supervisors and admins use the console.",
  "no-campaign": "You are not assigned to a campaign yet: ask your supervisor.",
  "campaign-inactive": "Your campaign is not active: ask your supervisor.",
  "caller-inactive": "Your caller account cannot work now: ask your supervisor.",
};
const SIGNED_OFF = new Set(["kicked", "signed_out"]);
const ACTIVE = new Set(["on_hold", "previewing", "dialing", "on_call", "transfer", "wrap_up"]);
const STOPPABLE = new Set(["connecting", "on_hold", "previewing", "dialing", "wrap_up"]);
const LIVE_CALL = new Set(["dialing", "ringing", "connected"]);

let lastReason = null;
let voicemailRefused = false;
let surveyFor = null;
let scriptShown = null;
let busy = false;

// -- what a person sees ------------------------------------------------------------------------

function render() {
  const s = caller.session;
  const connected = caller.connection === "connected";
  $("who").textContent = s.caller ? s.caller.name : "";
  $("campaign-name").textContent = s.campaign ? s.campaign.name : "…";
  $("campaign-mode").textContent = s.campaign ? `(${s.campaign.dialer_mode})` : "";
  $("hours").textContent = hoursText(s.calling_hours);
  $("state").textContent = stateText(s);

  const dialIn = s.state === "connecting" && lastReason === "waiting_for_dial_in" && s.dial_in;
  $("dial-in").hidden = !dialIn;
  if (dialIn) {
    $("dial-in-number").textContent = s.dial_in.number;
    $("dial-in-pin").textContent = s.dial_in.pin;
  }
  $("start").hidden = s.state !== "ready";
  $("start").querySelector('input[value="dial_in"]').closest("label").hidden = !(s.dial_in && s.dial_in.number);
  $("stop").hidden = !STOPPABLE.has(s.state);
  $("ended").hidden = s.state !== "ended";
  $("ended-reason").textContent = (s.ended ? (ENDED_TEXT[s.ended.reason] || "Your session ended.") : "")
    + (waitingForResults(s) ? " Save the last call's results to finish." : "");
  // Kicked or signed out: the sign-in has ended too, so a new session needs a new sign-in.
  const signedOff = s.ended !== null && SIGNED_OFF.has(s.ended.reason);
  $("new-session").hidden = waitingForResults(s) || signedOff;
  $("ended-sign-in").hidden = !signedOff;

  renderCall(s);
  renderLead(s);
  renderTransfers(s);
  renderScript(s);
  renderSurvey(s);

  for (const button of document.querySelectorAll("main button[data-command], #survey button")) {
    button.disabled = busy || !connected;
  }
  $("save-continue").disabled = $("save-stop").disabled = busy || !connected
    || !(s.state === "wrap_up" || waitingForResults(s));
  // The session is over: its last call's results are all there is left to save.
  $("save-stop").hidden = s.state === "ended";
  $("save-continue").textContent = s.state === "ended" ? "Save the results" : "Save and continue";
}

function stateText(s) {
  if (caller.connection === "failed" && s.state === null) return "Not connected.";
  if (s.state === null) return "Connecting…";
  if (s.state === "connecting") {
    return lastReason === "waiting_for_dial_in" ? "Waiting for you to dial in." : "Calling your phone: answer it to join.";
  }
  if (s.state === "on_hold" && lastReason === "phone_unanswered") return "Your phone did not answer.";
  return STATE_TEXT[s.state] || s.state;
}

function hoursText(hours) {
  if (!hours) return "";
  if (hours.open) return hours.closes_at ? `Calling hours: open until ${clock(hours.closes_at)}.` : "Calling hours: open.";
  return hours.opens_at ? `Calling hours are closed; they open at ${clock(hours.opens_at)}.` : "Calling hours are closed.";
}

function clock(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
}

function waitingForResults(s) {
  return s.state === "ended" && s.call !== null && !LIVE_CALL.has(s.call.status);
}

function renderCall(s) {
  const call = s.call;
  $("call-status").hidden = !call;
  if (!call) return;
  let text = CALL_TEXT[call.status] || call.status;
  if (call.status === "completed" && call.ended_by) text += ` (${ENDED_BY[call.ended_by] || call.ended_by})`;
  if (call.status === "dialing" && s.household) text += ` ${s.household.phone}`;
  $("call-status-text").textContent = `${text}${call.status === "connected" ? ":" : "."}`;
  $("timer").hidden = call.status !== "connected";
  tick();
}

function tick() {
  const call = caller.session.call;
  if (!call || call.status !== "connected" || !call.since) return;
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(call.since)) / 1000));
  $("timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function renderLead(s) {
  const show = s.household && (ACTIVE.has(s.state) || waitingForResults(s)) && s.state !== "on_hold";
  $("lead").hidden = !show;
  $("preview-actions").hidden = s.state !== "previewing";
  $("call-actions").hidden = !(s.state === "dialing" || s.state === "on_call");
  $("drop-message").hidden = s.state !== "on_call" || voicemailRefused || !(s.campaign && s.campaign.can_drop_voicemail);
  if (!show) return;
  $("lead-phone").textContent = s.household.phone;
  const members = $("members");
  const key = JSON.stringify(s.household);
  if (members.dataset.key === key) return;
  members.dataset.key = key;
  members.replaceChildren();
  const leads = s.household.leads || [];
  leads.forEach((lead, index) => {
    const box = document.createElement("div");
    box.className = "member";
    const heading = document.createElement("h3");
    heading.textContent = leadName(lead);
    box.append(heading);
    if (leads.length > 1) {
      const label = document.createElement("label");
      label.className = "choice";
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "talking-to";
      radio.value = String(lead.id);
      radio.checked = index === 0;
      label.append(radio, `Talking to ${leadName(lead)}`);
      box.append(label);
    }
    const fields = { ...(lead.fields || {}) };
    delete fields.first_name;
    delete fields.last_name;
    box.append(fieldList({ ...fields, ...(lead.custom_fields || {}) }));
    members.append(box);
  });
}

function leadName(lead) {
  const fields = lead.fields || {};
  return [fields.first_name, fields.last_name].filter(Boolean).join(" ") || `Lead ${lead.id}`;
}

function fieldList(fields) {
  const list = document.createElement("dl");
  list.className = "fields";
  for (const [name, value] of Object.entries(fields)) {
    if (value === null || value === undefined || value === "") continue;
    const term = document.createElement("dt");
    term.textContent = name.replace(/_/g, " ");
    const detail = document.createElement("dd");
    detail.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
    list.append(term, detail);
  }
  return list;
}

function renderTransfers(s) {
  const options = (s.script && s.script.transfers) || [];
  const show = options.length > 0 && (s.state === "on_call" || s.state === "transfer");
  $("transfers").hidden = !show;
  if (!show) return;
  const list = $("transfer-options");
  list.hidden = s.state !== "on_call";
  const key = JSON.stringify(options);
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(...options.map((option) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.dataset.command = "transfer";
      button.textContent = `Transfer to ${option.label} (${option.kind})`;
      button.addEventListener("click", () => run(`transfer to ${option.label}`, () => caller.transfer(option.id)));
      return button;
    }));
  }
  const transfer = s.transfer;
  $("transfer-actions").hidden = s.state !== "transfer" || !transfer;
  $("leave-transfer").hidden = !transfer || transfer.kind !== "warm" || transfer.status !== "connected";
  $("transfer-status").textContent = transfer
    ? `${transfer.label || "Transfer"} (${transfer.kind}): ${transfer.status === "connected" ? "connected" : "ringing…"}`
    : "Transfer the call to:";
}

function renderScript(s) {
  const texts = (s.script && s.script.texts) || [];
  const show = texts.length > 0 && (ACTIVE.has(s.state) || waitingForResults(s));
  $("script").hidden = !show;
  if (!show || scriptShown === s.script) return;
  scriptShown = s.script;
  $("script-texts").replaceChildren(...texts.map((text) => {
    const block = document.createElement("div");
    block.className = "script-text";
    block.innerHTML = renderMarkdown(text.content); // escaped first: see the SDK's markdown.js
    return block;
  }));
}

function renderSurvey(s) {
  const call = s.call;
  const show = call !== null && (["on_call", "transfer", "wrap_up"].includes(s.state) || waitingForResults(s))
    && call.status !== "dialing" && call.status !== "ringing";
  $("survey").hidden = !show;
  $("survey-hint").textContent = s.state === "wrap_up" || waitingForResults(s)
    ? "Answer every question, then save." : "You can fill this in during the call; save it after the call ends.";
  if (!show) return;
  const key = `${call.call_id}|${s.script ? s.script.id : ""}`;
  if (surveyFor === key) return;
  surveyFor = key;
  const script = s.script || { questions: [], notes: [] };
  $("questions").replaceChildren(...script.questions.map((question) => {
    const set = document.createElement("fieldset");
    set.dataset.question = String(question.id);
    const legend = document.createElement("legend");
    legend.textContent = `${question.text} (required)`;
    set.append(legend);
    for (const response of question.responses) {
      const label = document.createElement("label");
      label.className = "choice";
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = `question-${question.id}`;
      radio.value = String(response.id);
      radio.required = true;
      label.append(radio, response.value);
      set.append(label);
    }
    return set;
  }));
  $("notes").replaceChildren(...script.notes.map((note) => {
    const wrap = document.createElement("p");
    const label = document.createElement("label");
    label.htmlFor = `note-${note.id}`;
    label.textContent = note.text;
    const area = document.createElement("textarea");
    area.id = `note-${note.id}`;
    area.dataset.note = String(note.id);
    wrap.append(label, area);
    return wrap;
  }));
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

const showConnection = connectionBanner({
  client: caller,
  connectedText: "Connected",
  droppedText: "The connection dropped. Reconnecting… Nothing is lost: this page catches up with everything that "
    + "happened meanwhile.",
  failedText: FAILED_TEXT,
  // Kicked or signed out: the session's end already says why, with a way to sign in again.
  explained: () => {
    const ended = caller.session.ended;
    return Boolean(ended && SIGNED_OFF.has(ended.reason));
  },
});

function renderConnection(status, detail) {
  showConnection(status, detail);
  render();
}

// -- what a person does --------------------------------------------------------------------------

async function run(what, action) {
  if (busy) return;
  busy = true;
  showError("");
  render();
  try {
    await action();
  } catch (error) {
    if (error.id === "voicemail-not-allowed") voicemailRefused = true;
    showError(`Could not ${what}: ${error.message}`);
  } finally {
    busy = false;
    render();
    keepFocus(caller.state);
  }
}

$("start").addEventListener("change", () => {
  $("phone-field").hidden = new FormData($("start")).get("join") !== "phone";
});
$("start").addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData($("start"));
  const join = data.get("join");
  if (join === "phone" && !String(data.get("phone") || "").trim()) {
    showError("Type the phone number to call you at.");
    $("phone").focus();
    return;
  }
  const options = join === "dial_in" ? { dial_in: true } : join === "phone" ? { phone: String(data.get("phone")).trim() } : {};
  run("start", () => caller.start(options));
});
$("stop").addEventListener("click", () => run("stop", () => caller.stop()));
$("new-session").addEventListener("click", () => {
  voicemailRefused = false;
  caller.reopen();
});
$("dial").addEventListener("click", () => run("dial", () => caller.dial()));
$("skip").addEventListener("click", () => run("skip", () => caller.skip()));
$("hangup").addEventListener("click", () => run("hang up", () => caller.hangup()));
$("drop-message").addEventListener("click", () => run("leave the voicemail", () => caller.dropMessage()));
$("leave-transfer").addEventListener("click", () => run("leave the call", () => caller.kick("caller")));
$("drop-transfer").addEventListener("click", () => run("hang up the transfer", () => caller.kick("transfer")));
$("reconnect").addEventListener("click", () => caller.connect());
$("sign-out").addEventListener("click", async () => {
  try {
    await caller.signOut();
  } catch {
    // Signed out or not, the cookie is gone from this page's point of view: go to sign-in.
  }
  window.location.assign("/login");
});

$("survey").addEventListener("submit", (event) => {
  event.preventDefault();
  const then = event.submitter && event.submitter.dataset.then === "stop" ? "stop" : "continue";
  const answers = {};
  let missing = null;
  for (const set of $("questions").querySelectorAll("fieldset")) {
    const chosen = set.querySelector("input:checked");
    set.setAttribute("aria-invalid", chosen ? "false" : "true");
    if (chosen) answers[set.dataset.question] = Number(chosen.value);
    else missing = missing || set;
  }
  if (missing) {
    showError(`Answer every question before saving: “${missing.querySelector("legend").textContent.replace(/ \(required\)$/, "")}” has no answer.`);
    missing.querySelector("input").focus();
    return;
  }
  const notes = {};
  for (const area of $("notes").querySelectorAll("textarea")) {
    if (area.value.trim()) notes[area.dataset.note] = area.value;
  }
  const talkingTo = document.querySelector('input[name="talking-to"]:checked');
  const results = { answers, notes, then };
  if (talkingTo) results.lead_id = Number(talkingTo.value);
  run("save the results", () => caller.submit(results));
});

for (const id of ["dial", "skip", "hangup", "drop-message", "leave-transfer", "drop-transfer", "stop", "start-button", "new-session"]) {
  $(id).dataset.command = id;
}

// The control a person most likely wants next, for each state: where the focus goes when the
// one they used has gone (a keyboard user is never left on a hidden button).
const NEXT_CONTROL = { ready: "start-button", previewing: "dial", dialing: "hangup", on_call: "hangup",
  transfer: "drop-transfer", wrap_up: "questions", ended: "new-session" };

function keepFocus(state) {
  const active = document.activeElement;
  if (active && active !== document.body && active.offsetParent !== null && !active.disabled) return;
  let target = $(NEXT_CONTROL[state] || "");
  if (target && target.id === "questions") target = target.querySelector("input");
  if (target && target.offsetParent !== null) target.focus();
}

caller.on("state", (state, { reason }) => {
  lastReason = reason;
  render();
  keepFocus(state);
});
caller.on("connection", renderConnection);
for (const name of ["session_started", "lead_presented", "call_dialing", "call_ringing", "call_connected", "call_ended",
  "results_saved", "transfer_dialing", "transfer_connected", "transfer_ended", "script_changed", "campaign_changed",
  "calling_hours", "session_ended", "snapshot"]) {
  caller.on(name, render);
}
function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

caller.on("session_started", () => {
  voicemailRefused = false;
  showNotice("");
});
// A call that ended without a conversation moves the caller on at once: say how it went.
caller.on("call_ended", (data) => {
  const household = caller.session.household;
  if (data.status !== "completed" && data.status !== "cancelled") {
    showNotice(`Last call${household ? ` to ${household.phone}` : ""}: ${(CALL_TEXT[data.status] || data.status).toLowerCase()}.`);
  }
});
caller.on("call_dialing", () => showNotice(""));
caller.on("campaign_changed", (data) => {
  showNotice(`You were moved to the campaign ${data.campaign.name}: its leads come after this one.`);
});
setInterval(tick, 1000);
render();
