// The coordinator's worklist: a home-monitoring programme's open and claimed items, most urgent first (triage
// colour, shown as a word too), then the oldest, kept live over the worklist socket (snapshot, then deltas with seq;
// a gap resnapshots). An item is claimed, assigned, escalated and closed with an outcome and a comment; the selected
// item shows the patient's plan, personal thresholds, a week's trends of the measurements and the item's history.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { $, api, reportFailure, setStatus, showLogin, showProblem, session, startPage } from "./auth.js";
import { ageText, clockText, el, hourText, syncClock, UNIT_ZONE } from "./format.js";
import { LiveSocket } from "./socket.js";

const KIND_WORDS = {
  inactive_patient: "Inactive patient",
  missed_measurement: "Measurement not reported",
  threshold_breach: "Outside personal thresholds",
  alert: "Alert",
};
const COLOUR_WORDS = { R: "Red", O: "Orange", Y: "Yellow", G: "Green", B: "Blue", BL: "Black", NR: "Not reported" };
const TREND_SPAN_S = 7 * 24 * 3600; // a week of spot checks twice a day: the trend a coordinator judges by
const TREND_BUCKET_S = 3600;
const TREND_PARAMETERS = ["spo2", "pulse", "resp_rate", "systolic_bp", "temperature"];
const THEME = { axis: "#a9b4bf", grid: "#2f3a44" };
const AGE_TICK_MS = 30000; // ages on the list are in minutes

const items = new Map();
let cut = false; // the server left items out (more are open than one list holds): the page says so
let socket = null;
let closing = null; // the item the close form is for
let selected = null; // the item whose details are shown
let charts = [];
let ageTimer = null;

async function login() {
  $("worklist").hidden = false;
  try {
    const sites = await api("GET", "/sites");
    const programmes = sites.body.filter((site) => site.kind === "home_programme");
    $("programme").replaceChildren(...programmes.map((p) => new Option(p.name, p.site_id)));
    if (!programmes.length) showProblem("You follow no home-monitoring programme.");
    watch();
  } catch (error) {
    reportFailure("Cannot load the programmes", error);
  }
  ageTimer = setInterval(render, AGE_TICK_MS);
}

function logout() {
  clearInterval(ageTimer);
  socket?.close();
  items.clear();
  cut = false;
  $("worklist").hidden = true;
  $("items").replaceChildren();
}

function watch() {
  socket?.close();
  items.clear();
  const programme = $("programme").value;
  if (!programme || !session.token) return;
  socket = new LiveSocket("/ws/sites/" + encodeURIComponent(programme) + "/worklist", {
    snapshot(message) {
      syncClock(message.at);
      items.clear();
      for (const item of message.items) items.set(item.item_id, item);
      cut = message.truncated === true;
      render();
    },
    delta(message) {
      if (message.type === "item") items.set(message.item.item_id, message.item);
      else if (message.type === "removed") items.delete(message.item_id);
      else if (message.type !== "cut") return false;
      cut = message.truncated === true;
      render();
      if (selected && (message.item?.item_id === selected || message.item_id === selected)) showDetails(selected);
      return true;
    },
    status: setStatus,
    stale: (stale) => document.body.classList.toggle("stale", stale),
    unauthenticated: (reason) => showLogin(reason),
    refused: (reason) => showProblem(reason),
  });
  socket.open(session.token);
}

function ordered() {
  return [...items.values()].sort(
    (a, b) => b.urgency - a.urgency || Date.parse(a.opened_at) - Date.parse(b.opened_at) || (a.item_id < b.item_id ? -1 : 1),
  );
}

function render() {
  const list = ordered();
  $("empty-list").hidden = list.length > 0;
  $("cut-list").hidden = !cut;
  $("items").replaceChildren(...list.map(row));
}

function row(item) {
  const tr = el("tr", "worklist-item state-" + item.state);
  tr.dataset.itemId = item.item_id;
  if (item.item_id === selected) tr.classList.add("selected");
  const state = item.state === "claimed" ? "Claimed by " + item.owner : "Open";
  tr.append(
    colourCell(item.triage_colour),
    el("td", "kind", KIND_WORDS[item.kind] || item.kind),
    el("td", "patient", item.patient_id),
    el("td", "summary", item.summary),
    el("td", "age", ageText(item.opened_at)),
    el("td", "state", state + (item.assignee ? " · assigned to " + item.assignee : "")),
    actions(item),
  );
  tr.addEventListener("click", (event) => {
    if (event.target.closest("button")) return;
    showDetails(item.item_id);
  });
  return tr;
}

function colourCell(code) {
  // Colour is never the only signal: the word goes with it.
  const td = el("td", "colour");
  if (code) {
    const chip = el("span", "triage triage-" + code, COLOUR_WORDS[code] || code);
    td.append(chip);
  }
  return td;
}

function actions(item) {
  const td = el("td", "actions");
  if (item.state === "open") td.append(button("Claim", () => act(item, "/claim")));
  td.append(button("Details", () => showDetails(item.item_id)));
  td.append(button("Close…", () => openCloseForm(item)));
  return td;
}

function button(text, onClick) {
  const node = el("button", "quiet", text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

async function act(item, path, payload) {
  try {
    const result = await api("POST", "/worklist/" + encodeURIComponent(item.item_id) + path, payload);
    if (result.status !== 200) throw new Error(detailText(result.body) || "HTTP " + result.status);
    showProblem("");
    items.set(result.body.item_id, result.body); // the socket confirms within a second
    if (result.body.state === "closed") items.delete(result.body.item_id);
    render();
    if (selected === item.item_id) showDetails(selected);
    return true;
  } catch (error) {
    reportFailure("Not done", error);
    return false;
  }
}

function detailText(body) {
  const detail = body?.detail;
  return Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : detail;
}

function openCloseForm(item) {
  closing = item;
  $("close-summary").textContent = KIND_WORDS[item.kind] + " · " + item.patient_id + " · " + item.summary;
  $("close-comment").value = "";
  $("close-form").hidden = false;
  $("close-comment").focus();
}

// --- the selected item: plan, thresholds, trends, history ------------------------------------------------------

async function showDetails(itemId) {
  selected = itemId;
  const item = items.get(itemId);
  if (!item) return;
  $("details").hidden = false;
  $("details-title").textContent = KIND_WORDS[item.kind] + " · " + item.patient_id;
  const patient = "/patients/" + encodeURIComponent(item.patient_id);
  const until = new Date();
  const since = new Date(until.getTime() - TREND_SPAN_S * 1000);
  const window = "?since=" + encodeURIComponent(since.toISOString()) + "&until=" + encodeURIComponent(until.toISOString());
  const parameters = TREND_PARAMETERS.map((p) => "&parameter=" + p).join("");
  const [detail, plan, thresholds, trend] = await Promise.all([
    api("GET", "/worklist/" + encodeURIComponent(itemId)),
    api("GET", patient + "/measurement-plan"),
    api("GET", patient + "/thresholds"),
    api("GET", patient + "/observations/trend" + window + "&bucket_s=" + TREND_BUCKET_S + parameters),
  ]);
  if (selected !== itemId) return; // another item was chosen meanwhile
  $("details-plan").replaceChildren(...planLines(plan));
  $("details-thresholds").replaceChildren(...thresholdLines(thresholds));
  $("details-history").replaceChildren(...historyLines(detail));
  drawTrends(trend, [since.getTime() / 1000, until.getTime() / 1000]);
}

function planLines(plan) {
  if (plan.status !== 200) return [el("li", null, "No measurement plan")];
  return plan.body.items.map((i) =>
    el("li", null, i.parameters.join(", ") + " at " + i.local_times.join(", ") + " (" + i.window_min + " min, " + plan.body.timezone + ")"),
  );
}

function thresholdLines(thresholds) {
  if (thresholds.status !== 200 || !thresholds.body.thresholds.length) return [el("li", null, "No personal thresholds: NEWS2 only")];
  return thresholds.body.thresholds.map((t) => el("li", null, t.measurement + ": " + t.described));
}

function historyLines(detail) {
  if (detail.status !== 200) return [el("li", null, "History not available")];
  return detail.body.history.map((e) => el("li", "history-" + e.action, clockText(e.at) + " " + e.actor + " " + e.action + (e.text ? ": " + e.text : "")));
}

function drawTrends(trend, range) {
  for (const chart of charts.splice(0)) chart.destroy();
  const box = $("details-trends");
  box.replaceChildren();
  if (trend.status !== 200) return;
  for (const parameter of TREND_PARAMETERS) {
    const buckets = trend.body.buckets.filter((b) => b.parameter === parameter);
    if (!buckets.length) continue;
    const figure = el("figure", "chart");
    figure.dataset.chart = parameter;
    box.append(figure);
    const xs = buckets.map((b) => Date.parse(b.starts_at) / 1000);
    const axis = { stroke: THEME.axis, grid: { stroke: THEME.grid, width: 1 } };
    const options = {
      title: parameter + " (last reading " + buckets[buckets.length - 1].mean.toFixed(1) + ")",
      width: Math.max(280, box.clientWidth),
      height: 140,
      tzDate: (s) => uPlot.tzDate(new Date(s * 1000), UNIT_ZONE),
      scales: { x: { time: true, range: () => range } },
      axes: [{ ...axis, values: (u, splits) => splits.map((s) => hourText(s)) }, { ...axis, size: 48 }],
      series: [{}, { label: parameter, stroke: "#4fc3f7", width: 2, points: { show: true, size: 5 } }],
    };
    charts.push(new uPlot(options, [xs, buckets.map((b) => b.mean)], figure));
  }
  if (!box.children.length) box.append(el("p", null, "No readings in the last week"));
}

// --- forms -----------------------------------------------------------------------------------------------------

$("close-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const payload = { outcome: $("close-outcome").value, comment: $("close-comment").value.trim() };
  if (closing && (await act(closing, "/close", payload))) $("close-form").hidden = true;
});
$("close-cancel").addEventListener("click", () => ($("close-form").hidden = true));
$("assign-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const item = items.get(selected);
  if (item) await act(item, "/assign", { assignee: $("assign-to").value.trim() });
});
$("escalate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const item = items.get(selected);
  if (item && (await act(item, "/escalate", { reason: $("escalate-reason").value.trim() }))) $("escalate-reason").value = "";
});
$("programme").addEventListener("change", watch);

startPage({ login, logout });
