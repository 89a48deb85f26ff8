// The specialist's view: every open or acknowledged alert in every unit the user covers (their token's sites and
// the sites their rotations cover), high priority first, then oldest first; live over /ws/alerts.

import { $, api, reportFailure, setStatus, showLogin, showProblem, session, startPage } from "./auth.js";
import { ageText, el, patientLink, PRIORITY_RANK, priorityChip, stateWord, syncClock } from "./format.js";
import { LiveSocket } from "./socket.js";

const AGE_REFRESH_MS = 5000;
const rows = new Map(); // alert_id -> row (as the server sends it)
const shownIsbar = new Map(); // alert_id -> its ISBAR as last read (null while it loads), for the rows opened
const ISBAR_PARTS = [
  ["identify", "Identify"],
  ["situation", "Situation"],
  ["background", "Background"],
  ["assessment", "Assessment"],
  ["recommendation", "Recommendation"],
];

const live = new LiveSocket("/ws/alerts", {
  snapshot: applySnapshot,
  delta: applyDelta,
  status: setStatus,
  stale: (stale) => $("covered").classList.toggle("disconnected", stale),
  unauthenticated: (reason) => showLogin(reason),
  refused: (reason) => showProblem(reason),
});

function login() {
  $("covered").hidden = false;
  live.open(session.token);
}

function logout() {
  live.close();
  rows.clear();
  shownIsbar.clear();
  $("covered").hidden = true;
  $("alert-rows").replaceChildren();
}

function applySnapshot(snapshot) {
  syncClock(snapshot.at);
  showProblem("");
  rows.clear();
  for (const row of snapshot.alerts) rows.set(row.alert.alert_id, row);
  renderUnits(snapshot);
  render();
}

function applyDelta(message) {
  if (message.type !== "alert_row") return true;
  const row = message.row;
  // Each row is read from the store as the change arrives: the latest one is the truth.
  const id = row.alert.alert_id;
  if (row.alert.state === "resolved") {
    rows.delete(id);
    shownIsbar.delete(id);
  } else {
    rows.set(id, row);
    if (shownIsbar.has(id)) loadIsbar(id); // what it says may have changed with the alert
  }
  render();
  return true;
}

function renderUnits(snapshot) {
  const units = snapshot.units.map((u) => u.site_name + " · " + u.ward_name);
  $("units").textContent = units.length ? "Covering " + units.join(", ") + "." : "You cover no unit.";
  const missing = snapshot.rostered_without_access;
  $("rostered-warning").hidden = !missing.length;
  $("rostered-warning").textContent = missing.length
    ? "A rotation names you for " + missing.join(", ") + ", but your login does not give access there: ask an administrator."
    : "";
}

function ordered() {
  return Array.from(rows.values()).sort(
    (a, b) =>
      (PRIORITY_RANK[a.alert.priority] ?? 3) - (PRIORITY_RANK[b.alert.priority] ?? 3) ||
      Date.parse(a.alert.opened_at) - Date.parse(b.alert.opened_at) ||
      a.alert.alert_id - b.alert.alert_id,
  );
}

function render() {
  const body = $("alert-rows");
  body.replaceChildren(...ordered().flatMap((row) => [renderRow(row), ...isbarRow(row)]));
  $("empty-list").hidden = rows.size > 0;
  $("alert-list").hidden = rows.size === 0;
}

function renderRow(row) {
  const { alert } = row;
  const tr = el("tr", "covered-alert prio-" + alert.priority + " state-" + alert.state);
  tr.dataset.alertId = alert.alert_id;
  const cell = (className, ...content) => {
    const td = el("td", className);
    td.append(...content);
    tr.append(td);
    return td;
  };
  cell("priority", priorityChip(alert.priority));
  cell("where", row.site_name + " · " + row.ward_name + " · " + row.place);
  cell("who", row.patient ? patientLink(row.patient) : "–");
  cell("message", alert.message);
  const age = el("span", "age", ageText(alert.opened_at));
  age.dataset.since = alert.opened_at;
  cell("opened", age);
  const stateCell = cell("state", stateWord(alert));
  if (alert.state === "open") stateCell.append(ackButton(alert));
  cell("escalation escalation-" + row.escalation.status, row.escalation.text);
  cell("handover", isbarButton(alert));
  return tr;
}

// --- ISBAR: the handover text under a row, read from the server when opened -----------------------------------

function isbarButton(alert) {
  const open = shownIsbar.has(alert.alert_id);
  const button = el("button", "isbar-toggle", open ? "Hide ISBAR" : "ISBAR");
  button.type = "button";
  button.setAttribute("aria-expanded", String(open));
  button.addEventListener("click", () => {
    if (shownIsbar.has(alert.alert_id)) shownIsbar.delete(alert.alert_id);
    else loadIsbar(alert.alert_id);
    render();
  });
  return button;
}

async function loadIsbar(alertId) {
  if (!shownIsbar.has(alertId)) shownIsbar.set(alertId, null);
  try {
    const result = await api("GET", "/alerts/" + alertId + "/isbar");
    if (!shownIsbar.has(alertId)) return; // closed meanwhile
    shownIsbar.set(alertId, result.status === 200 ? result.body : { problem: result.body?.detail || "HTTP " + result.status });
  } catch (error) {
    reportFailure("Could not read the ISBAR", error);
    shownIsbar.delete(alertId);
  }
  render();
}

function isbarRow(row) {
  const id = row.alert.alert_id;
  if (!shownIsbar.has(id)) return [];
  const isbar = shownIsbar.get(id);
  const td = el("td", "isbar");
  td.colSpan = 8;
  if (isbar === null) td.append(el("span", "muted", "Reading…"));
  else if (isbar.problem) td.append(el("span", "problem", isbar.problem));
  else {
    const list = el("dl", "isbar-parts");
    for (const [key, word] of ISBAR_PARTS) list.append(el("dt", null, word), el("dd", "isbar-" + key, isbar[key]));
    td.append(list);
  }
  const tr = el("tr", "isbar-row");
  tr.dataset.isbarOf = id;
  tr.append(td);
  return [tr];
}

function ackButton(alert) {
  const button = el("button", "ack", "Acknowledge");
  button.type = "button";
  button.setAttribute("aria-label", "Acknowledge alert: " + alert.message);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const result = await api("POST", "/alerts/" + alert.alert_id + "/ack");
      // The new state arrives as a row on the socket; a 409 means someone was first.
      if (result.status !== 200) showProblem((result.body && result.body.detail) || "HTTP " + result.status);
    } catch (error) {
      reportFailure("Could not acknowledge", error);
    }
    button.disabled = false;
  });
  return button;
}

function refreshAges() {
  for (const node of document.querySelectorAll(".age[data-since]")) node.textContent = ageText(node.dataset.since);
}

setInterval(refreshAges, AGE_REFRESH_MS);
startPage({ login, logout });
