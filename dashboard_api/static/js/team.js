// A team's board (the D-FACT "digital board meeting"): a row per patient the team follows, wherever they are, live
// over /ws/teams/{id}: a snapshot, then a patient's row again whenever an alert, reading, task, item or plan changes.
// Members take and finish outreach tasks and write the shared plan note here.

import { $, api, reportFailure, session, setStatus, showLogin, showProblem, startPage } from "./auth.js";
import { ageText, clockText, el, patientLink, priorityChip, syncClock, VITALS, vitalText } from "./format.js";
import { LiveSocket } from "./socket.js";

const AGE_REFRESH_MS = 5000;
const BAND_RANK = { high: 0, medium: 1, "low-medium": 2, low: 3, none: 4 };
const KIND_WORDS = { inactive_patient: "Inactive patient", missed_measurement: "Measurement not reported" };
const TASK_STATE = { open: "Open", taken: "Taken by ", done: "Done" };
const rows = new Map(); // patient_id -> row, as the server last sent it
let live = null;
let finishing = null; // the task the done form is for
let planning = null; // the patient the plan form is for
let ageTimer = null;
let cut = false; // the server left tasks out (more are open than one read holds): the page says so until a snapshot

async function login() {
  $("board").hidden = false;
  try {
    const teams = await api("GET", "/teams");
    if (teams.status !== 200) throw new Error(teams.body?.detail || "HTTP " + teams.status);
    $("team").replaceChildren(...teams.body.map((t) => new Option(t.name, t.team_id)));
    const asked = new URLSearchParams(window.location.search).get("team");
    if (asked && teams.body.some((t) => t.team_id === asked)) $("team").value = asked;
    if (!teams.body.length) {
      showProblem("You are not a member of any team.");
      return;
    }
    watch();
  } catch (error) {
    reportFailure("Cannot load your teams", error);
  }
  ageTimer = setInterval(render, AGE_REFRESH_MS);
}

function logout() {
  if (live) live.close();
  clearInterval(ageTimer);
  rows.clear();
  cut = false;
  $("board").hidden = true;
  $("rows").replaceChildren();
}

function watch() {
  if (live) live.close();
  rows.clear();
  live = new LiveSocket("/ws/teams/" + encodeURIComponent($("team").value), {
    snapshot: applySnapshot,
    delta: applyDelta,
    status: setStatus,
    stale: (stale) => $("board").classList.toggle("disconnected", stale),
    unauthenticated: (reason) => showLogin(reason),
    refused: (reason) => showProblem(reason),
  });
  live.open(session.token);
}

function applySnapshot(snapshot) {
  syncClock(snapshot.at);
  showProblem("");
  $("team-title").textContent = snapshot.team.name;
  rows.clear();
  cut = snapshot.truncated === true;
  for (const row of snapshot.rows) rows.set(row.patient_id, row);
  render();
}

function applyDelta(message) {
  if (message.type !== "row") return true;
  rows.set(message.row.patient_id, message.row); // read from the store as the change arrived: the latest is the truth
  cut ||= message.truncated === true; // a row read alone says nothing of the others' tasks: cleared by a snapshot
  render();
  return true;
}

function urgency(a, b) {
  return (
    BAND_RANK[a.status.band] - BAND_RANK[b.status.band] ||
    b.alerts.length - a.alerts.length ||
    b.missed_check_ins - a.missed_check_ins ||
    a.display_name.localeCompare(b.display_name)
  );
}

function render() {
  const sorted = [...rows.values()].sort(urgency);
  $("empty-list").hidden = sorted.length > 0;
  $("cut-list").hidden = !cut;
  $("rows").replaceChildren(...sorted.map(rowOf));
}

function rowOf(row) {
  const tr = el("tr", "team-row band-" + row.status.band);
  tr.dataset.patientId = row.patient_id;
  tr.append(
    cell("patient", patientLink(row)),
    el("td", "where", row.where.text),
    cell("status-cell band-" + row.status.band, statusChip(row.status)),
    cell("vitals-cell", vitalsList(row)),
    cell("alerts-cell", alertsList(row)),
    cell("follow-up-cell", followUp(row)),
    el("td", "missed" + (row.missed_check_ins ? " missed-some" : ""), row.missed_check_ins + " in 7 days"),
    cell("contact", ...lastContact(row)),
    cell("plan", ...plan(row)),
  );
  return tr;
}

function cell(className, ...children) {
  const td = el("td", className);
  td.append(...children);
  return td;
}

function statusChip(status) {
  // Colour is never the only signal: the band's word and the score are written in it.
  const text = status.word + (status.news2 === null ? "" : " · NEWS2 " + status.news2);
  const chip = el("span", "news2", text);
  chip.dataset.band = status.band;
  return chip;
}

function vitalsList(row) {
  const byParameter = new Map(row.vitals.map((v) => [v.parameter, v]));
  const list = el("ul", "vitals");
  for (const [parameter, label, unit] of VITALS) {
    const vital = byParameter.get(parameter);
    if (!vital) continue;
    const diastolic = byParameter.get("diastolic_bp")?.value;
    list.append(el("li", "vital", label + " " + vitalText(parameter, vital.value, diastolic) + (unit ? " " + unit : "")));
  }
  if (!list.children.length) list.append(el("li", "vital none", "No readings"));
  return list;
}

function alertsList(row) {
  const list = el("ul", "alerts");
  for (const alert of row.alerts) {
    const item = el("li", "alert");
    item.dataset.alertId = alert.alert_id;
    item.append(priorityChip(alert.priority), " ", el("span", "message", alert.message));
    list.append(item);
  }
  if (!row.alerts.length) list.append(el("li", "alert none", "None"));
  return list;
}

function followUp(row) {
  const list = el("ul", "follow-up");
  for (const task of row.tasks) {
    const item = el("li", "task state-" + task.state);
    item.dataset.taskId = task.task_id;
    const state = task.state === "taken" ? TASK_STATE.taken + task.assignee : TASK_STATE[task.state];
    item.append(el("span", "task-text", "Outreach: " + task.summary + " · " + state + " "));
    if (task.state === "open") item.append(button("Take", () => act(task, "/take")));
    item.append(button("Done…", () => openDoneForm(row, task)));
    list.append(item);
  }
  for (const open of row.worklist) {
    list.append(el("li", "item", "Coordinator: " + (KIND_WORDS[open.kind] || open.kind) + " (" + open.state + ")"));
  }
  if (!list.children.length) list.append(el("li", "none", "Nothing open"));
  return list;
}

function lastContact(row) {
  const reading = el("p", "last-reading", row.last_reading_at ? "Reading " + ageText(row.last_reading_at) : "No reading");
  const action = row.last_staff_action;
  const staff = el("p", "last-action by", action ? action.what + " by " + action.actor + ", " + clockText(action.at) : "");
  return [reading, staff];
}

function plan(row) {
  const note = row.plan_note;
  const shown = [el("p", "plan-note", note ? note.text : "No plan yet")];
  if (note) shown.push(el("p", "by", note.written_by + ", " + clockText(note.written_at)));
  shown.push(button(note ? "Edit plan" : "Write plan", () => openPlanForm(row)));
  return shown;
}

function button(text, onClick) {
  const node = el("button", "quiet", text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

function teamPath(path) {
  return "/teams/" + encodeURIComponent($("team").value) + path;
}

async function call(method, path, payload) {
  const result = await api(method, teamPath(path), payload);
  if (result.status !== 200) throw new Error(detailText(result.body) || "HTTP " + result.status);
  showProblem("");
  return result.body;
}

async function act(task, path, payload) {
  try {
    await call("POST", "/tasks/" + encodeURIComponent(task.task_id) + path, payload);
    return true; // the row comes back over the socket
  } catch (error) {
    reportFailure("Not done", error);
    return false;
  }
}

function detailText(body) {
  const detail = body?.detail;
  return Array.isArray(detail) ? detail.map((d) => d.loc.at(-1) + ": " + d.msg).join("; ") : detail;
}

function openDoneForm(row, task) {
  finishing = task;
  $("done-summary").textContent = row.display_name + " · " + task.summary;
  $("done-note").value = "";
  $("done-form").hidden = false;
  $("done-note").focus();
}

async function openPlanForm(row) {
  planning = row;
  $("plan-patient").textContent = row.display_name;
  $("plan-text").value = row.plan_note ? row.plan_note.text : "";
  $("plan-history").replaceChildren();
  $("plan-form").hidden = false;
  $("plan-text").focus();
  try {
    const history = await call("GET", "/patients/" + encodeURIComponent(row.patient_id) + "/plan-note");
    $("plan-history").replaceChildren(
      ...history.history.map((n) => el("li", "", n.text + " — " + n.written_by + ", " + clockText(n.written_at))),
    );
  } catch (error) {
    reportFailure("Cannot read the plan's history", error);
  }
}

$("done-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const payload = { outcome: $("done-outcome").value, note: $("done-note").value.trim() };
  if (finishing && (await act(finishing, "/done", payload))) $("done-form").hidden = true;
});
$("done-cancel").addEventListener("click", () => ($("done-form").hidden = true));
$("plan-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!planning) return;
  try {
    const path = "/patients/" + encodeURIComponent(planning.patient_id) + "/plan-note";
    await call("PUT", path, { text: $("plan-text").value.trim() });
    $("plan-form").hidden = true;
  } catch (error) {
    reportFailure("Plan not saved", error);
  }
});
$("plan-cancel").addEventListener("click", () => ($("plan-form").hidden = true));
$("team").addEventListener("change", watch);

startPage({ login, logout });
