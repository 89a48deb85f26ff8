// The specialist's view: every open or acknowledged alert in every unit the user covers (their token's sites and
// the sites their rotations cover), high priority first, then oldest first; live over /ws/alerts.

import { $, api, reportFailure, setStatus, showLogin, showProblem, session, startPage } from "./auth.js";
import { ageText, el, patientLink, PRIORITY_RANK, priorityChip, stateWord, syncClock } from "./format.js";
import { LiveSocket } from "./socket.js";

const AGE_REFRESH_MS = 5000;
const rows = new Map(); // alert_id -> row (as the server sends it)

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
  if (row.alert.state === "resolved") rows.delete(row.alert.alert_id);
  else rows.set(row.alert.alert_id, row);
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
  body.replaceChildren(...ordered().map(renderRow));
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
  return tr;
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
