// Vaktrom live ward page: no build step. Token in sessionStorage, snapshot + ordered deltas over one WebSocket.
"use strict";

const { clearAlarms, setupAlarms, showAlarmSetup, syncAlarms } = VaktromAlarms; // alarms.js, loaded first

const TOKEN_KEY = "vaktrom.token";
const WARD_KEY = "vaktrom.ward";
const API = "/api/v1";
// Reconnect backoff: quick first retry for a restart, capped so a long outage costs little, jittered so a ward's
// worth of screens do not reconnect in lockstep.
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;
const STALE_AFTER_S = 900; // a bedside value older than 15 min is shown as stale
const AGE_REFRESH_MS = 5000;
const NO_RECONNECT = new Set([4400, 4401, 4403, 4404]); // the same request would fail the same way

const VITALS = [
  ["resp_rate", "RR", "/min"],
  ["spo2", "SpO₂", "%"],
  ["supplemental_o2", "O₂", ""],
  ["systolic_bp", "BP", "mmHg"],
  ["pulse", "Pulse", "/min"],
  ["temperature", "Temp", "°C"],
  ["consciousness", "ACVPU", ""],
];

const state = {
  token: null,
  wardId: null,
  socket: null,
  seq: -1,
  backoffMs: BACKOFF_MIN_MS,
  reconnectTimer: null,
  clockOffsetMs: 0, // server time minus browser time, from the snapshot's `at`
  beds: new Map(), // key -> bed view (as in the snapshot)
  wardNames: new Map(), // key -> the name of the bed's ward
  byPatient: new Map(), // patient_id -> key
};

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// --- token and login ------------------------------------------------------------------------------------------

function takeTokenFromFragment() {
  // The fragment never reaches the server; move the token out of the address bar at once.
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  closeSocket();
  $("login").hidden = false;
  $("ward-picker").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("board").replaceChildren();
  state.beds.clear();
  state.wardNames.clear();
  state.byPatient.clear();
  clearAlarms(); // nobody is watching this screen any more: its notifications must not pretend otherwise
  showAlarmSetup(false);
  setStatus("Not connected");
  showProblem(message || "");
}

function showProblem(message) {
  $("problem").textContent = message;
  $("problem").hidden = !message;
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.dataset.kind = kind || "";
}

async function api(method, path) {
  const response = await fetch(API + path, {
    method,
    headers: { Authorization: "Bearer " + state.token, Accept: "application/json" },
    cache: "no-store",
  });
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (response.status === 401) {
    showLogin("Your session has ended. Log in again.");
    throw new Error("unauthenticated");
  }
  return { status: response.status, body };
}

async function start() {
  state.token = takeTokenFromFragment();
  if (!state.token) {
    showLogin();
    return;
  }
  $("login").hidden = true;
  $("logout").hidden = false;
  showAlarmSetup(true);
  try {
    const me = await api("GET", "/me");
    $("who").textContent = me.body.user_id + " · " + me.body.role;
    await loadWards();
  } catch (error) {
    if (error.message !== "unauthenticated") showProblem("Cannot reach vaktrom: " + error.message);
  }
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
  state.wardId = wardId;
  state.backoffMs = BACKOFF_MIN_MS;
  $("board").replaceChildren();
  connect();
}

// --- the live socket ------------------------------------------------------------------------------------------

function closeSocket() {
  clearTimeout(state.reconnectTimer);
  if (state.socket) {
    state.socket.onclose = null;
    state.socket.close(1000, "leaving");
    state.socket = null;
  }
}

function connect() {
  closeSocket();
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const url = scheme + window.location.host + API + "/ws/wards/" + encodeURIComponent(state.wardId);
  setStatus("Connecting…", "wait");
  // The token travels in the Sec-WebSocket-Protocol header, never in the URL (which proxies log).
  const socket = new WebSocket(url, ["bearer", state.token]);
  state.socket = socket;
  state.seq = -1;
  socket.onmessage = (event) => onMessage(socket, JSON.parse(event.data));
  socket.onclose = (event) => onClose(event);
}

function onClose(event) {
  state.socket = null;
  if (event.code === 4401) {
    showLogin(event.reason || "Log in again.");
    return;
  }
  if (NO_RECONNECT.has(event.code)) {
    setStatus("Not connected", "bad");
    showProblem(event.reason || "The server refused this ward.");
    return;
  }
  const delay = Math.round(state.backoffMs * (0.5 + Math.random()));
  state.backoffMs = Math.min(state.backoffMs * 2, BACKOFF_MAX_MS);
  setStatus("Reconnecting in " + Math.ceil(delay / 1000) + " s", "bad");
  markStale(true);
  state.reconnectTimer = setTimeout(connect, delay);
}

function onMessage(socket, message) {
  if (socket !== state.socket) return;
  if (message.type === "snapshot") {
    state.seq = 0;
    state.backoffMs = BACKOFF_MIN_MS;
    applySnapshot(message);
    setStatus("Live", "ok");
    showProblem("");
    return;
  }
  if (message.seq !== state.seq + 1) {
    // A gap means a lost delta: start over from a fresh snapshot rather than show a wrong board.
    socket.close(4000, "sequence gap");
    return;
  }
  state.seq = message.seq;
  if (!applyDelta(message)) {
    socket.close(4000, "resnapshot"); // someone we do not know yet (a new admission): take a fresh snapshot
  }
}

function keyOf(bed) {
  return bed.bed_id ? "bed:" + bed.bed_id : "home:" + bed.patient.patient_id;
}

function applySnapshot(snapshot) {
  state.clockOffsetMs = Date.parse(snapshot.at) - Date.now();
  markStale(false);
  state.beds.clear();
  state.wardNames.clear();
  state.byPatient.clear();
  for (const ward of snapshot.wards) {
    for (const bed of ward.beds) {
      const key = keyOf(bed);
      state.beds.set(key, bed);
      state.wardNames.set(key, ward.ward.name);
      if (bed.patient) state.byPatient.set(bed.patient.patient_id, key);
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

function applyDelta(event) {
  if (event.type === "device_status") {
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
    return true;
  }
  if (!event.patient_id) return true; // a device alert with no patient: not shown on the bed board
  const bed = bedOfPatient(event.patient_id);
  if (!bed) return false;
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
    if (index >= 0 && !newer(event.updated_at, bed.alerts[index].updated_at)) return true;
    if (index >= 0) bed.alerts.splice(index, 1);
    if (event.state !== "resolved") bed.alerts.unshift(event);
  }
  renderBed(state.byPatient.get(event.patient_id));
  if (event.type === "alert") syncAlarms(alarmEntries());
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

function serverNow() {
  return Date.now() + state.clockOffsetMs;
}

function ageText(measuredAt) {
  const seconds = Math.max(0, Math.round((serverNow() - Date.parse(measuredAt)) / 1000));
  if (seconds < 60) return seconds + " s ago";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
  if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
  return Math.floor(seconds / 86400) + " d ago";
}

function vitalText(parameter, value, bed) {
  if (parameter === "consciousness") return "ACVPU"[Math.round(value)] || "?";
  if (parameter === "supplemental_o2") return value >= 0.5 ? "Oxygen" : "Air";
  if (parameter === "systolic_bp") {
    const dia = bed.vitals.find((v) => v.parameter === "diastolic_bp");
    return Math.round(value) + (dia ? "/" + Math.round(dia.value) : "");
  }
  if (parameter === "temperature") return value.toFixed(1);
  return String(Math.round(value));
}

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
    const name = el("p", "patient", bed.patient.display_name);
    if (bed.patient.birth_year) name.append(el("span", "born", " f. " + bed.patient.birth_year));
    head.append(name);
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
  }
  return box;
}

function renderVitals(bed) {
  const list = el("dl", "vitals");
  for (const [parameter, label, unit] of VITALS) {
    const value = bed.vitals.find((v) => v.parameter === parameter);
    const row = el("div", "vital");
    row.dataset.parameter = parameter;
    row.append(el("dt", null, label));
    const dd = el("dd");
    if (value) {
      const age = (serverNow() - Date.parse(value.measured_at)) / 1000;
      if (age > STALE_AFTER_S) row.classList.add("stale");
      dd.append(el("span", "value", vitalText(parameter, value.value, bed)));
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
    item.append(el("span", "alert-message", alert.message));
    if (alert.state === "open") {
      const button = el("button", "ack", "Acknowledge");
      button.type = "button";
      button.setAttribute("aria-label", "Acknowledge alert: " + alert.message);
      button.addEventListener("click", () => acknowledge(alert.alert_id, button));
      item.append(button);
    } else {
      item.append(el("span", "acked", "Acknowledged" + (alert.acknowledged_by ? " by " + alert.acknowledged_by : "")));
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
    if (error.message !== "unauthenticated") showProblem("Could not acknowledge: " + error.message);
  }
  button.disabled = false;
  button.textContent = "Acknowledge";
}

function refreshAges() {
  for (const node of document.querySelectorAll(".age[data-measured-at]")) {
    node.textContent = ageText(node.dataset.measuredAt);
    const age = (serverNow() - Date.parse(node.dataset.measuredAt)) / 1000;
    node.closest(".vital").classList.toggle("stale", age > STALE_AFTER_S);
  }
}

function markStale(stale) {
  $("board").classList.toggle("disconnected", stale);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    showProblem("");
    start();
  });
  $("logout").addEventListener("click", () => showLogin());
  $("ward-select").addEventListener("change", (event) => chooseWard(event.target.value));
  setInterval(refreshAges, AGE_REFRESH_MS);
  setupAlarms({ showBed });
  start();
});
