// The coordinator's worklist: a home-monitoring programme's open and claimed items (an inactive patient first, then
// the oldest), claimed and closed with an outcome and a comment. Read again every few seconds and after each action.

import { $, api, reportFailure, setStatus, showProblem, session, startPage } from "./auth.js";
import { ageText, el } from "./format.js";

const REFRESH_MS = 5000; // a worklist changes by the minute; the durable timers raise items within a second
const KIND_WORDS = { inactive_patient: "Inactive patient", missed_measurement: "Measurement not reported" };
let refreshTimer = null;
let closing = null; // the item the close form is for

async function login() {
  $("worklist").hidden = false;
  try {
    const sites = await api("GET", "/sites");
    const programmes = sites.body.filter((site) => site.kind === "home_programme");
    $("programme").replaceChildren(...programmes.map((p) => new Option(p.name, p.site_id)));
    if (!programmes.length) showProblem("You follow no home-monitoring programme.");
    await refresh();
  } catch (error) {
    reportFailure("Cannot load the programmes", error);
  }
  refreshTimer = setInterval(refresh, REFRESH_MS);
}

function logout() {
  clearInterval(refreshTimer);
  $("worklist").hidden = true;
  $("items").replaceChildren();
}

async function refresh() {
  const programme = $("programme").value;
  if (!programme || !session.token) return;
  try {
    const listed = await api("GET", "/sites/" + encodeURIComponent(programme) + "/worklist");
    if (listed.status !== 200) throw new Error(listed.body?.detail || "HTTP " + listed.status);
    render(listed.body);
    setStatus("Up to date", "live");
  } catch (error) {
    setStatus("Not up to date", "stale");
    reportFailure("Cannot read the worklist", error);
  }
}

function render(items) {
  $("empty-list").hidden = items.length > 0;
  $("items").replaceChildren(...items.map(row));
}

function row(item) {
  const tr = el("tr", "worklist-item state-" + item.state);
  tr.dataset.itemId = item.item_id;
  tr.append(
    el("td", "kind", KIND_WORDS[item.kind] || item.kind),
    el("td", "patient", item.patient_id),
    el("td", "summary", item.summary),
    el("td", "age", ageText(item.opened_at)),
    el("td", "state", item.state === "claimed" ? "Claimed by " + item.owner : "Open"),
    actions(item),
  );
  return tr;
}

function actions(item) {
  const td = el("td", "actions");
  if (item.state === "open") td.append(button("Claim", () => act(item, "/claim")));
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
    await refresh();
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

$("close-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const payload = { outcome: $("close-outcome").value, comment: $("close-comment").value.trim() };
  if (closing && (await act(closing, "/close", payload))) $("close-form").hidden = true;
});
$("close-cancel").addEventListener("click", () => ($("close-form").hidden = true));
$("programme").addEventListener("change", refresh);

startPage({ login, logout });
