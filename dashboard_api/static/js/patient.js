// One patient: 24-hour trend charts of each vital and of NEWS2 (uPlot, vendored), the open alerts' ISBAR, the alert
// timeline, the care team and the doctor's personal limits. `/patient?id=<patient id>`.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { $, api, reportFailure, setStatus, showProblem, startPage } from "./auth.js";
import { clockText, el, hourText, PRIORITY_WORD, syncClock, UNIT_ZONE } from "./format.js";

const SPAN_S = 24 * 3600;
const BUCKET_S = 300; // 288 points a day: as fine as a chart this wide can show
const TIMELINE_ALERTS = 20;
const SYSTEM_ACTOR = "vaktrom"; // who the history names for what vaktrom did by itself // the patient's latest alerts on the timeline
const CHART_HEIGHT = 150;
const THEME = { axis: "#a9b4bf", grid: "#2f3a44", low: "rgba(169,180,191,0.55)" };

// [parameter(s), title, unit, colour]: colour helps tell the charts apart, the title says what each is.
const CHARTS = [
  [["resp_rate"], "Respiration rate", "/min", "#7fb7ff"],
  [["spo2"], "SpO₂", "%", "#4fc3a1"],
  [["supplemental_o2"], "Oxygen (1 = on oxygen)", "", "#b39ddb"],
  [["systolic_bp", "diastolic_bp"], "Blood pressure (systolic, diastolic)", "mmHg", "#ffb74d"],
  [["pulse"], "Pulse", "/min", "#ef5350"],
  [["temperature"], "Temperature", "°C", "#ffd54f"],
  [["consciousness"], "Consciousness (0 = A … 4 = U)", "", "#90a4ae"],
];

const patientId = new URLSearchParams(window.location.search).get("id");
const charts = [];

async function login() {
  if (!patientId) {
    showProblem("No patient chosen: open a patient from the ward page or the alert list.");
    return;
  }
  await load();
}

function logout() {
  for (const chart of charts.splice(0)) chart.destroy();
  $("patient-view").hidden = true;
}

async function load() {
  setStatus("Loading…", "wait");
  try {
    const patient = await api("GET", "/patients/" + encodeURIComponent(patientId));
    if (patient.status !== 200) {
      setStatus("Not shown", "bad");
      showProblem((patient.body && patient.body.detail) || "HTTP " + patient.status);
      return;
    }
    showProblem("");
    renderPatient(patient.body);
    $("patient-view").hidden = false;
    const alerts = await patientAlerts(patient.body.stay.ward_id);
    await Promise.all([loadCharts(), loadIsbar(alerts), loadTimeline(alerts), loadLimits()]);
    setStatus("Updated " + clockText(new Date().toISOString()), "ok");
  } catch (error) {
    setStatus("Not shown", "bad");
    reportFailure("Cannot load the patient", error);
  }
}

function base() {
  return "/patients/" + encodeURIComponent(patientId);
}

// --- who, where, care team ------------------------------------------------------------------------------------

function renderPatient(patient) {
  $("patient-name").textContent = patient.display_name + (patient.birth_year ? " (f. " + patient.birth_year + ")" : "");
  const stay = patient.stay;
  const where = stay.bed_id ? "bed " + stay.bed_id : "at home";
  const scale = patient.spo2_scale && patient.spo2_scale.scale === 2 ? " · SpO₂ scale 2" : "";
  $("patient-stay").textContent = stay.setting + ", " + where + " · admitted " + clockText(stay.start_at) + scale;
  const team = $("team");
  team.replaceChildren(
    ...patient.care_team.map((m) => {
      const item = el("li", "member");
      item.dataset.memberId = m.member_id;
      item.append(el("span", "member-id", m.member_id), el("span", "member-role", " · " + m.role.replaceAll("_", " ")));
      item.append(el("span", "member-org", " · " + m.organisation));
      return item;
    }),
  );
  if (!patient.care_team.length) team.append(el("li", "none", "No care team recorded."));
}

// --- charts ---------------------------------------------------------------------------------------------------

async function loadCharts() {
  const until = new Date();
  const since = new Date(until.getTime() - SPAN_S * 1000);
  const query = "?since=" + encodeURIComponent(since.toISOString()) + "&until=" + encodeURIComponent(until.toISOString());
  const [trend, news2] = await Promise.all([
    api("GET", base() + "/observations/trend" + query + "&bucket_s=" + BUCKET_S),
    api("GET", base() + "/scores/history" + query),
  ]);
  for (const chart of charts.splice(0)) chart.destroy();
  const box = $("charts");
  box.replaceChildren();
  const range = [since.getTime() / 1000, until.getTime() / 1000];
  if (news2.status === 200) news2Chart(box, news2.body.scores, range);
  if (trend.status === 200) {
    syncClock(trend.body.until);
    for (const [parameters, title, unit, colour] of CHARTS) vitalChart(box, trend.body.buckets, { parameters, title, unit, colour }, range);
  }
}

function tzDate(seconds) {
  return uPlot.tzDate(new Date(seconds * 1000), UNIT_ZONE);
}

function options(box, title, range, series, extra = {}) {
  // Drawn into its place in the grid: as wide as its column.
  const width = Math.max(280, box.clientWidth);
  const axis = { stroke: THEME.axis, grid: { stroke: THEME.grid, width: 1 }, ticks: { stroke: THEME.grid } };
  const hours = { ...axis, values: (u, splits) => splits.map((s) => hourText(s)) };
  return {
    title,
    width,
    height: CHART_HEIGHT,
    tzDate,
    scales: { x: { time: true, range: () => range }, ...(extra.scales || {}) },
    axes: [hours, { ...axis, size: 48 }],
    legend: { show: true },
    series: [{}, ...series],
  };
}

function figure(parent, id, points, rows) {
  const box = el("figure", "chart");
  parent.append(box);
  box.dataset.chart = id;
  box.dataset.points = String(points);
  // The same numbers as a table, for screen readers and for reading a value exactly.
  const details = el("details", "chart-values");
  details.append(el("summary", null, "Values (" + points + ")"));
  const table = el("table");
  const head = el("tr");
  for (const name of rows.head) head.append(el("th", null, name));
  table.append(head);
  for (const cells of rows.body) {
    const tr = el("tr");
    for (const cell of cells) tr.append(el("td", null, cell));
    table.append(tr);
  }
  details.append(table);
  return { box, details };
}

function news2Chart(parent, scores, range) {
  const xs = scores.map((s) => Date.parse(s.computed_at) / 1000);
  const ys = scores.map((s) => s.total);
  const rows = { head: ["Time", "NEWS2", "Band"], body: scores.map((s) => [clockText(s.computed_at), (s.complete ? "" : "≥") + s.total, s.risk]) };
  const { box, details } = figure(parent, "news2", xs.length, rows);
  const series = [{ label: "NEWS2", stroke: "#d32f2f", width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: true } }];
  const top = Math.max(8, ...ys) + 1;
  charts.push(new uPlot(options(box, "NEWS2", range, series, { scales: { y: { range: [0, top] } } }), [xs, ys], box));
  box.append(details);
}

function vitalChart(parent, buckets, { parameters, title, unit, colour }, range) {
  const mine = parameters.map((p) => buckets.filter((b) => b.parameter === p));
  const times = Array.from(new Set(mine.flat().map((b) => Date.parse(b.starts_at) / 1000))).sort((a, b) => a - b);
  const at = (list, key) => {
    const byTime = new Map(list.map((b) => [Date.parse(b.starts_at) / 1000, b[key]]));
    return times.map((t) => (byTime.has(t) ? byTime.get(t) : null));
  };
  const data = [times];
  const series = [];
  mine.forEach((list, index) => {
    const label = parameters[index].replace("_bp", "").replaceAll("_", " ");
    data.push(at(list, "mean"));
    series.push({ label: label + (unit ? " (" + unit + ")" : ""), stroke: colour, width: 2, dash: index ? [6, 4] : undefined, points: { show: true, size: 4 } });
    if (parameters.length === 1) {
      data.push(at(list, "low"), at(list, "high"));
      series.push({ label: "lowest", stroke: THEME.low, width: 1 }, { label: "highest", stroke: THEME.low, width: 1 });
    }
  });
  const body = mine.flat().map((b) => [clockText(b.starts_at), b.parameter, b.mean.toFixed(1), b.low + "–" + b.high, String(b.count)]);
  const { box, details } = figure(parent, parameters[0], times.length, { head: ["From", "Parameter", "Mean", "Range", "Readings"], body });
  if (!times.length) {
    box.append(el("figcaption", null, title + ": no readings in the last 24 hours"));
    return;
  }
  charts.push(new uPlot(options(box, title, range, series), data, box));
  box.append(details);
}

// --- alerts: ISBAR and timeline --------------------------------------------------------------------------------

async function patientAlerts(wardId) {
  const query = "?ward_id=" + encodeURIComponent(wardId) + "&state=open&state=acknowledged&state=resolved&limit=500";
  const listed = await api("GET", "/alerts" + query);
  if (listed.status !== 200) return [];
  return listed.body.filter((a) => a.patient_id === patientId).slice(0, TIMELINE_ALERTS);
}

async function loadIsbar(alerts) {
  const box = $("isbar");
  box.replaceChildren();
  const open = alerts.filter((a) => a.state !== "resolved");
  if (!open.length) {
    box.append(el("p", "none", "No open alerts."));
    return;
  }
  for (const alert of open) {
    const section = el("article", "isbar prio-" + alert.priority);
    section.dataset.alertId = alert.alert_id;
    section.append(el("h4", null, (PRIORITY_WORD[alert.priority] || alert.priority) + " priority: " + alert.message));
    const isbar = await api("GET", "/alerts/" + alert.alert_id + "/isbar");
    if (isbar.status === 200) {
      const list = el("dl", "isbar-parts");
      for (const [key, word] of [["identify", "Identify"], ["situation", "Situation"], ["background", "Background"], ["assessment", "Assessment"], ["recommendation", "Recommendation"]]) {
        list.append(el("dt", null, word), el("dd", "isbar-" + key, isbar.body[key]));
      }
      section.append(list);
    } else {
      section.append(el("p", "note", "The ISBAR message is not available here."));
    }
    box.append(section);
  }
}

async function loadTimeline(alerts) {
  const entries = [];
  for (const alert of alerts) {
    const history = await api("GET", "/alerts/" + alert.alert_id + "/history");
    if (history.status !== 200) continue;
    for (const step of history.body) entries.push({ alert, step });
  }
  entries.sort((a, b) => Date.parse(b.step.at) - Date.parse(a.step.at));
  const list = $("timeline");
  list.replaceChildren(
    ...entries.map(({ alert, step }) => {
      const item = el("li", "phase-" + step.phase);
      item.dataset.alertId = alert.alert_id;
      const time = el("time", null, clockText(step.at));
      time.dateTime = step.at;
      const who = step.by && step.by !== SYSTEM_ACTOR ? " by " + step.by : "";
      item.append(time, el("span", "what", " " + alert.message + ": " + step.phase + who + (step.reason ? " (" + step.reason + ")" : "")));
      return item;
    }),
  );
  if (!entries.length) list.append(el("li", "none", "No alerts in this stay."));
}

// --- personal limits ------------------------------------------------------------------------------------------

async function loadLimits() {
  const box = $("limits");
  box.replaceChildren();
  const limits = await api("GET", base() + "/limits");
  if (limits.status !== 200) {
    box.append(el("p", "note", "Personal limits are not available here."));
    return;
  }
  if (!limits.body.limits.length) {
    box.append(el("p", "none", "No personal limits: the standard NEWS2 chart applies."));
    return;
  }
  const table = el("table", "limits");
  const head = el("tr");
  for (const name of ["Parameter", "Low", "High", "Why", "Set by"]) head.append(el("th", null, name));
  table.append(head);
  for (const limit of limits.body.limits) {
    const tr = el("tr");
    tr.dataset.parameter = limit.parameter;
    const cells = [limit.parameter, limit.low ?? "–", limit.high ?? "–", limit.reason, limit.set_by + ", " + clockText(limit.set_at)];
    for (const cell of cells) tr.append(el("td", null, cell));
    table.append(tr);
  }
  box.append(table);
}

$("refresh").addEventListener("click", () => load());
startPage({ login, logout });
