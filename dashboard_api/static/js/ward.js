// The live ward page: every bed of the chosen ward with its patient, vitals, NEWS2, alerts and their escalation,
// from a snapshot and ordered deltas over one socket. Alarms sound for new high alerts (alarms.js).

import { clearAlarms, setScreenLost, setupAlarms, showAlarmSetup, syncAlarms } from "./alarms.js";
import { $, api, reportFailure, session, setStatus, showLogin, showProblem, startPage } from "./auth.js";
import { ageSeconds, ageText, el, patientLink, syncClock, VITALS, vitalText } from "./format.js";
import { LiveSocket } from "./socket.js";

const WARD_KEY = "vaktrom.ward";
const STALE_AFTER_S = 900; // a bedside value older than 15 min is shown as stale
const AGE_REFRESH_MS = 5000;
// Shown under every ML risk until a model is shown to beat NEWS2 at another hospital (issue 13, docs/MODEL_CARD.md).
const ML_RISK_CAVEAT = "trend flag, not validated to beat NEWS2 at other hospitals";
const SIGNED_OUT = "signed out, so this screen is not receiving alarms. Log in again.";
// A stream lost this long sounds the technical alarm too: a server restart reconnects within seconds, an outage
// does not.
const STREAM_LOST_AFTER_MS = 30000;
const STREAM_LOST = "the live feed is lost, so this screen is not receiving alarms. Reconnecting…";
let streamLostTimer = null;

const state = {
  beds: new Map(), // key -> bed view (as in the snapshot)
  wardNames: new Map(), // key -> the name of the bed's ward
  byPatient: new Map(), // patient_id -> key
  escalations: new Map(), // alert_id -> escalation state in words
};

const live = new LiveSocket("", {
  snapshot: applySnapshot,
  delta: applyDelta,
  status: setStatus,
  stale: markStale,
  unauthenticated: (reason) => showLogin(reason),
  refused: (reason) => showProblem(reason),
});

// --- starting -------------------------------------------------------------------------------------------------

async function login(me) {
  // The specialist's login link lands on the alerts of every unit they cover; the ward stays one click away.
  if (me.role === "specialist" && session.freshLogin) {
    window.location.replace("/alerts");
    return;
  }
  // A technician watches devices, not wards: their page is the devices page.
  if (me.role === "technician") {
    window.location.replace("/devices");
    return;
  }
  setScreenLost(null);
  showAlarmSetup(true);
  await loadWards();
}

// `ended`: the sign-in ended without a log-out (auth.js), so nobody may know this screen went quiet.
function logout(ended) {
  live.close();
  clearTimeout(streamLostTimer);
  streamLostTimer = null;
  $("ward-picker").hidden = true;
  $("board").replaceChildren();
  state.beds.clear();
  state.wardNames.clear();
  state.byPatient.clear();
  state.escalations.clear();
  clearAlarms(); // nobody is watching this screen any more: its notifications must not pretend otherwise
  setScreenLost(ended ? SIGNED_OUT : null);
  showAlarmSetup(false);
}

async function loadWards() {
  const sites = await api("GET", "/sites");
  const select = $("ward-select");
  select.replaceChildren();
  // Bed units first, home programmes after: the night nurse's own ward is the likelier choice.
  const ordered = (sites.body || []).slice().sort((a, b) => (a.kind === "home_programme") - (b.kind === "home_programme"));
  for (const site of ordered) {
    const wards = await api("GET", "/sites/" + encodeURIComponent(site.site_id) + "/wards");
    const group = el("optgroup");
    group.label = site.name;
    for (const ward of wards.body || []) {
      const option = el("option", null, ward.name);
      option.value = ward.ward_id;
      group.append(option);
    }
    if (group.children.length) select.append(group);
  }
  if (!select.options.length) {
    showProblem("Your token gives access to no ward.");
    return;
  }
  const remembered = sessionStorage.getItem(WARD_KEY);
  const wanted = Array.from(select.options).some((o) => o.value === remembered) ? remembered : select.options[0].value;
  select.value = wanted;
  $("ward-picker").hidden = false;
  chooseWard(wanted);
}

function chooseWard(wardId) {
  sessionStorage.setItem(WARD_KEY, wardId);
  $("board").replaceChildren();
  live.path = "/ws/wards/" + encodeURIComponent(wardId);
  live.open(session.token);
}

// --- snapshot and deltas --------------------------------------------------------------------------------------

function keyOf(bed) {
  return bed.bed_id ? "bed:" + bed.bed_id : "home:" + bed.patient.patient_id;
}

function applySnapshot(snapshot) {
  syncClock(snapshot.at);
  showProblem("");
  state.beds.clear();
  state.wardNames.clear();
  state.byPatient.clear();
  state.escalations.clear();
  for (const ward of snapshot.wards) {
    for (const bed of ward.beds) {
      const key = keyOf(bed);
      state.beds.set(key, bed);
      state.wardNames.set(key, ward.ward.name);
      if (bed.patient) state.byPatient.set(bed.patient.patient_id, key);
      for (const escalation of bed.escalations || []) state.escalations.set(escalation.alert_id, escalation);
    }
  }
  renderBoard();
  syncAlarms(alarmEntries());
}

function bedOfPatient(patientId) {
  const key = state.byPatient.get(patientId);
  return key ? state.beds.get(key) : undefined;
}

function newer(a, b) {
  // Deltas may repeat what the snapshot already shows; never let an older value replace a newer one.
  return !b || Date.parse(a) >= Date.parse(b);
}

function applyDeviceStatus(event) {
  for (const [key, bed] of state.beds) {
    const device = bed.devices.find((d) => d.device_id === event.device_id);
    if (device && newer(event.reported_at, device.reported_at)) {
      Object.assign(device, {
        online: event.online,
        battery_percent: event.battery_percent,
        signal_dbm: event.signal_dbm,
        reported_at: event.reported_at,
      });
      renderBed(key);
    }
  }
}

function applyPatientEvent(bed, event) {
  if (event.type === "readings") {
    for (const value of event.values) {
      const current = bed.vitals.find((v) => v.parameter === value.parameter);
      if (!current) bed.vitals.push({ ...value });
      else if (newer(value.measured_at, current.measured_at)) Object.assign(current, value);
    }
  } else if (event.type === "score") {
    if (!bed.news2 || newer(event.computed_at, bed.news2.computed_at)) bed.news2 = event;
  } else if (event.type === "risk") {
    if (!bed.risk || newer(event.computed_at, bed.risk.computed_at)) bed.risk = event;
  } else if (event.type === "alert") {
    const index = bed.alerts.findIndex((a) => a.alert_id === event.alert_id);
    if (index >= 0 && !newer(event.updated_at, bed.alerts[index].updated_at)) return false;
    if (index >= 0) bed.alerts.splice(index, 1);
    if (event.state !== "resolved") bed.alerts.unshift(event);
  } else if (event.type === "escalation") {
    // Read from the store right after its alert's event: always the latest word on that alert.
    state.escalations.set(event.escalation.alert_id, event.escalation);
  }
  return true;
}

function applyDelta(event) {
  // A burst of a ward's patient events comes as one batch (the server encodes it once for every dashboard).
  if (event.type === "batch") return applyBatch(event.events);
  if (event.type === "device_status") {
    applyDeviceStatus(event);
    return true;
  }
  // A patient was admitted to, moved within, into or out of, or discharged from a ward shown here (the socket carries
  // only those): the boards are read afresh, so the bed shows who is in it now, alerts or none.
  if (event.type === "stay") return false;
  if (!event.patient_id) return true; // a device alert with no patient: not shown on the bed board
  // The patient moved to another ward and took their alerts along: the boards are read afresh, so the ward they
  // left drops them (and stops their alarms) and the ward they joined shows them.
  if (event.type === "alert" && event.phase === "transferred") return false;
  const bed = bedOfPatient(event.patient_id);
  if (!bed) return false; // someone we do not know yet (a new admission): take a fresh snapshot
  if (!applyPatientEvent(bed, event)) return true;
  renderBed(state.byPatient.get(event.patient_id));
  if (event.type === "alert") syncAlarms(alarmEntries());
  return true;
}

function applyBatch(events) {
  // Each bed is drawn once, after all its events; readings, scores and risks never change the alarms.
  const changed = new Set();
  for (const event of events) {
    const bed = bedOfPatient(event.patient_id);
    if (!bed) return false; // someone we do not know yet (a new admission): take a fresh snapshot
    if (applyPatientEvent(bed, event)) changed.add(state.byPatient.get(event.patient_id));
  }
  for (const key of changed) renderBed(key);
  return true;
}

// --- alarms ---------------------------------------------------------------------------------------------------

function alarmEntries() {
  const entries = [];
  for (const [key, bed] of state.beds) {
    if (!bed.patient) continue;
    for (const alert of bed.alerts) {
      entries.push({
        alert,
        key,
        label: bed.label,
        wardName: state.wardNames.get(key) || "",
        patientName: bed.patient.display_name,
      });
    }
  }
  return entries;
}

function showBed(key) {
  const card = document.querySelector('article.bed[data-key="' + CSS.escape(key) + '"]');
  if (!card) return;
  card.scrollIntoView({ block: "center" });
  const button = card.querySelector("button.ack");
  if (button) button.focus();
}

// --- rendering ------------------------------------------------------------------------------------------------

function renderBoard() {
  const board = $("board");
  board.replaceChildren();
  for (const key of state.beds.keys()) {
    const card = el("article", "bed");
    card.dataset.key = key;
    board.append(card);
    renderBed(key);
  }
}

function renderBed(key) {
  const bed = state.beds.get(key);
  const card = document.querySelector('article.bed[data-key="' + CSS.escape(key) + '"]');
  if (!bed || !card) return;
  card.replaceChildren();
  card.dataset.bedId = bed.bed_id || "";
  card.dataset.patientId = bed.patient ? bed.patient.patient_id : "";
  const band = bed.news2 ? "band-" + bed.news2.risk : "band-none";
  card.className = "bed " + band + (bed.patient ? "" : " empty");

  const head = el("header", "bed-head");
  head.append(el("h2", "bed-label", bed.label));
  if (bed.patient) {
    const name = el("p", "patient");
    name.append(patientLink(bed.patient));
    if (bed.patient.birth_year) name.append(el("span", "born", " f. " + bed.patient.birth_year));
    head.append(name);
    if (bed.admitted_at) head.append(renderStayLength(bed));
  } else {
    head.append(el("p", "patient none", "Empty"));
  }
  card.setAttribute("aria-label", bed.label + (bed.patient ? ", " + bed.patient.display_name : ", empty"));
  card.append(head);
  if (!bed.patient) return;

  card.append(renderScore(bed));
  card.append(renderVitals(bed));
  if (bed.alerts.length) card.append(renderAlerts(bed));
  if (bed.devices.length) card.append(renderDevices(bed));
}

// Length of stay since the patient came to this kind of unit; past the unit's limit it says so in words (a review
// is due: an advisory item is on the bed too), not by colour alone.
function renderStayLength(bed) {
  const line = el("p", "stay-length");
  line.dataset.testid = "length-of-stay";
  line.dataset.admittedAt = bed.admitted_at;
  if (bed.stay_limit_at) line.dataset.limitAt = bed.stay_limit_at;
  fillStayLength(line);
  return line;
}

function fillStayLength(line) {
  const hours = Math.max(0, Math.floor(ageSeconds(line.dataset.admittedAt) / 3600));
  const length = hours < 48 ? hours + " h" : Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  const over = line.dataset.limitAt && ageSeconds(line.dataset.limitAt) >= 0;
  line.textContent = "Stay " + length + (over ? " — past the unit's limit, review due" : "");
  line.classList.toggle("over-limit", Boolean(over));
}

function renderScore(bed) {
  const box = el("section", "score");
  const score = bed.news2;
  const number = el("p", "news2");
  number.dataset.testid = "news2";
  if (!score) {
    number.textContent = "–";
    box.append(el("p", "score-label", "NEWS2"), number, el("p", "score-note", "no score yet"));
    return box;
  }
  number.textContent = (score.complete ? "" : "≥") + score.total;
  box.append(el("p", "score-label", "NEWS2"), number);
  const note = score.complete ? "complete" : "incomplete: missing " + score.missing.join(", ");
  box.append(el("p", "score-note", note + (score.spo2_scale === 2 ? " · SpO₂ scale 2" : "")));
  if (score.single_param_3) box.append(el("p", "score-note strong", "3 in one parameter"));
  if (bed.risk) {
    const pct = bed.risk.probability === null ? "" : " " + Math.round(bed.risk.probability * 100) + "%";
    box.append(el("p", "risk risk-" + bed.risk.level, "ML risk: " + bed.risk.level + pct));
    // docs/MODEL_CARD.md: no model has yet cleared issue 13's targets at a hospital it never saw. NEWS2 leads.
    box.append(el("p", "risk-note", ML_RISK_CAVEAT));
  }
  return box;
}

function renderVitals(bed) {
  const list = el("dl", "vitals");
  const diastolic = bed.vitals.find((v) => v.parameter === "diastolic_bp");
  for (const [parameter, label, unit] of VITALS) {
    const value = bed.vitals.find((v) => v.parameter === parameter);
    const row = el("div", "vital");
    row.dataset.parameter = parameter;
    row.append(el("dt", null, label));
    const dd = el("dd");
    if (value) {
      if (ageSeconds(value.measured_at) > STALE_AFTER_S) row.classList.add("stale");
      dd.append(el("span", "value", vitalText(parameter, value.value, diastolic && diastolic.value)));
      if (unit) dd.append(el("span", "unit", " " + unit));
      const when = el("span", "age", ageText(value.measured_at));
      when.dataset.measuredAt = value.measured_at;
      dd.append(when);
    } else {
      dd.append(el("span", "value missing", "–"));
    }
    row.append(dd);
    list.append(row);
  }
  return list;
}

function renderAlerts(bed) {
  const list = el("ul", "alerts");
  list.setAttribute("aria-label", "Alerts");
  for (const alert of bed.alerts) {
    const item = el("li", "alert sev-" + alert.severity_name + " prio-" + alert.priority + " state-" + alert.state);
    item.dataset.alertId = alert.alert_id;
    const line = el("div", "alert-line");
    line.append(el("span", "alert-message", alert.message));
    if (alert.state === "open") {
      const button = el("button", "ack", "Acknowledge");
      button.type = "button";
      button.setAttribute("aria-label", "Acknowledge alert: " + alert.message);
      button.addEventListener("click", () => acknowledge(alert.alert_id, button));
      line.append(button);
    } else {
      line.append(el("span", "acked", "Acknowledged" + (alert.acknowledged_by ? " by " + alert.acknowledged_by : "")));
    }
    item.append(line);
    const escalation = state.escalations.get(alert.alert_id);
    if (escalation) {
      const words = el("p", "escalation escalation-" + escalation.status, escalation.text);
      item.append(words);
    }
    list.append(item);
  }
  return list;
}

function renderDevices(bed) {
  const list = el("p", "devices");
  for (const device of bed.devices) {
    const online = device.online === null ? "no status" : device.online ? "online" : "OFFLINE";
    const battery = device.battery_percent === null ? "" : " · " + Math.round(device.battery_percent) + "%";
    list.append(el("span", "device " + (device.online === false ? "offline" : ""), device.device_id + ": " + online + battery));
  }
  return list;
}

async function acknowledge(alertId, button) {
  button.disabled = true;
  button.textContent = "Acknowledging…";
  try {
    const result = await api("POST", "/alerts/" + alertId + "/ack");
    if (result.status === 200 || result.status === 409) {
      const alert = result.status === 200 ? result.body : { alert_id: alertId, state: "acknowledged" };
      for (const [key, bed] of state.beds) {
        const current = bed.alerts.find((a) => a.alert_id === alertId);
        if (current) {
          Object.assign(current, alert);
          renderBed(key);
        }
      }
      syncAlarms(alarmEntries());
      if (result.status === 409) showProblem(result.body.detail);
      return;
    }
    showProblem((result.body && result.body.detail) || "Could not acknowledge (HTTP " + result.status + ")");
  } catch (error) {
    reportFailure("Could not acknowledge", error);
  }
  button.disabled = false;
  button.textContent = "Acknowledge";
}

function refreshAges() {
  for (const node of document.querySelectorAll(".stay-length[data-admitted-at]")) fillStayLength(node);
  for (const node of document.querySelectorAll(".age[data-measured-at]")) {
    node.textContent = ageText(node.dataset.measuredAt);
    node.closest(".vital").classList.toggle("stale", ageSeconds(node.dataset.measuredAt) > STALE_AFTER_S);
  }
}

function markStale(stale) {
  $("board").classList.toggle("disconnected", stale);
  if (stale) {
    streamLostTimer ??= setTimeout(() => setScreenLost(STREAM_LOST), STREAM_LOST_AFTER_MS);
    return;
  }
  clearTimeout(streamLostTimer);
  streamLostTimer = null;
  setScreenLost(null);
}

$("ward-select").addEventListener("change", (event) => chooseWard(event.target.value));
setInterval(refreshAges, AGE_REFRESH_MS);
setupAlarms({ showBed });
startPage({ login, logout });
