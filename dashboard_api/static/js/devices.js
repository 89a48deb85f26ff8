// The technician's page: every device of their sites, in stock or in use, live (the /devices/live socket sends the
// whole fleet whenever it changes), with the onboarding steps: register (credentials shown once), pair to a bed or
// a home patient, unpair, rotate, revoke, and acknowledging device alerts. No clinical values, no patient names.

import { $, API, api, reportFailure, session, setStatus, showLogin, showProblem, startPage } from "./auth.js";
import { el, ageText, syncClock } from "./format.js";
import { LiveSocket } from "./socket.js";

const STATE_WORDS = {
  registered: "Registered, waiting for first contact",
  first_contact: "First reading received",
  paired: "Paired",
  revoked: "Revoked",
  decommissioned: "Decommissioned",
};
let devices = [];
let heardBefore = null; // device ids that had sent a reading, as of the previous message (null: none yet)

// POST/GET with a JSON body: { status, body }; a 401 ends the session like every other call.
async function call(method, path, body) {
  const response = await fetch(API + path, {
    method,
    headers: {
      Authorization: "Bearer " + session.token,
      Accept: "application/json",
      "Content-Type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch (_) {
    answer = null;
  }
  if (response.status === 401) {
    showLogin("Your session has ended. Log in again.");
    throw new Error("unauthenticated");
  }
  return { status: response.status, body: answer };
}

function detailOf(answer) {
  const detail = answer.body && answer.body.detail;
  if (Array.isArray(detail)) return detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
  return detail || "HTTP " + answer.status;
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function connection(device) {
  if (device.online === null) return ["never", "Never heard from"];
  return device.online ? ["online", "Online"] : ["offline", "Offline"];
}

function credentialText(device) {
  if (!device.credential_issued_at) return "None current";
  const days = Math.floor((Date.parse(device.credential_expires_at) - Date.now()) / 86400000);
  return "Issued " + ageText(device.credential_issued_at) + " · expires in " + days + " d";
}

function problemList(device) {
  const list = el("ul", "problems");
  for (const problem of device.problems) {
    const item = el("li", null, problem.text);
    item.dataset.kind = problem.kind;
    if (problem.alert_id !== null && problem.alert_state === "open") {
      const ack = el("button", "ack", "Acknowledge");
      ack.type = "button";
      ack.addEventListener("click", () => act(device, "/alerts/" + problem.alert_id + "/ack", undefined, "Alert acknowledged"));
      item.append(" ", ack);
    }
    list.append(item);
  }
  if (!device.problems.length) list.append(el("li", null, "None"));
  return list;
}

function actions(device) {
  const box = el("div", "actions");
  if (device.lifecycle === "decommissioned") return box;
  if (device.lifecycle !== "paired" && device.lifecycle !== "revoked") {
    const form = el("form", "pair-form");
    const patient = el("input");
    patient.name = "patient_id";
    patient.required = true;
    patient.setAttribute("aria-label", "Patient id for " + device.device_id);
    const bed = el("input");
    bed.name = "bed_id";
    bed.setAttribute("aria-label", "Bed id for " + device.device_id + " (default: the patient's bed)");
    const label = (text, input) => {
      const wrap = el("label", null, text);
      wrap.append(input);
      return wrap;
    };
    const submit = el("button", null, "Pair");
    submit.type = "submit";
    form.append(label("Patient id", patient), label("Bed (optional)", bed), submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { patient_id: patient.value.trim() };
      if (bed.value.trim()) body.bed_id = bed.value.trim();
      act(device, "/pair", body, "Paired " + device.device_id);
    });
    box.append(form);
  }
  const button = (text, path, done) => {
    const b = el("button", "quiet", text);
    b.type = "button";
    b.addEventListener("click", () => act(device, path, undefined, done));
    box.append(b);
  };
  if (device.lifecycle === "paired") button("Unpair", "/unpair", "Unpaired " + device.device_id);
  const rotate = el("button", "quiet", device.lifecycle === "revoked" ? "Issue new credentials" : "Rotate credentials");
  rotate.type = "button";
  rotate.addEventListener("click", () => rotateCredentials(device));
  box.append(rotate);
  if (device.lifecycle !== "revoked") button("Revoke", "/revoke", "Revoked " + device.device_id + ": disconnected");
  return box;
}

function row(device) {
  const tr = el("tr");
  tr.dataset.device = device.device_id;
  const who = el("td");
  who.append(el("div", "device-id", device.device_id));
  who.append(el("div", "device-meta", [device.kind.replace("_", " "), device.model, device.serial].filter(Boolean).join(" · ")));
  const [conn, connText] = connection(device);
  const connCell = el("td", "conn", connText);
  connCell.dataset.conn = conn;
  const state = el("td", "state", STATE_WORDS[device.lifecycle] || device.lifecycle);
  state.dataset.state = device.lifecycle;
  tr.append(
    who,
    state,
    connCell,
    el("td", "last-seen", device.last_seen_at ? ageText(device.last_seen_at) : "–"),
    el("td", "battery", device.battery_percent === null ? "–" : Math.round(device.battery_percent) + " %"),
    el("td", "signal", device.signal_dbm === null ? "–" : Math.round(device.signal_dbm) + " dBm"),
    el("td", "firmware", device.firmware || "–"),
    el("td", "credential", credentialText(device)),
    el("td", "placement", device.placement),
  );
  const problems = el("td");
  problems.append(problemList(device));
  const acts = el("td");
  acts.append(actions(device));
  tr.append(problems, acts);
  return tr;
}

function render() {
  const rows = $("device-rows");
  rows.replaceChildren(...devices.map(row));
  $("empty-fleet").hidden = devices.length > 0;
}

function receive(message) {
  syncClock(message.at);
  const heardNow = new Set(devices.filter((d) => d.last_seen_at).map((d) => d.device_id));
  devices = message.devices;
  const heard = new Set(devices.filter((d) => d.last_seen_at).map((d) => d.device_id));
  if (heardBefore !== null) {
    for (const id of heard) if (!heardBefore.has(id) && !heardNow.has(id)) notice("First reading received from " + id);
  }
  heardBefore = heard;
  render();
}

const live = new LiveSocket("/devices/live", {
  snapshot: receive,
  delta: (message) => {
    receive(message);
    return true;
  },
  status: setStatus,
  stale: (stale) => $("fleet").classList.toggle("disconnected", stale),
  unauthenticated: (reason) => showLogin(reason),
  refused: (reason) => showProblem(reason),
});

async function act(device, path, body, done) {
  try {
    const answer = await call("POST", "/devices/" + encodeURIComponent(device.device_id) + path, body);
    if (answer.status >= 400) {
      showProblem(device.device_id + ": " + detailOf(answer));
      return;
    }
    showProblem("");
    notice(done);
  } catch (error) {
    reportFailure("Cannot reach vaktrom", error);
  }
}

function showCredentials(credentials) {
  $("credentials-device").textContent = credentials.username;
  $("credentials-username").textContent = credentials.username;
  $("credentials-password").textContent = credentials.password;
  $("credentials-expires").textContent = new Date(credentials.expires_at).toISOString().slice(0, 10);
  $("credentials").hidden = false;
}

async function rotateCredentials(device) {
  try {
    const answer = await call("POST", "/devices/" + encodeURIComponent(device.device_id) + "/rotate");
    if (answer.status >= 400) {
      showProblem(device.device_id + ": " + detailOf(answer));
      return;
    }
    showProblem("");
    showCredentials(answer.body);
  } catch (error) {
    reportFailure("Cannot reach vaktrom", error);
  }
}

async function register(event) {
  event.preventDefault();
  const form = new FormData($("register-form"));
  const body = {};
  for (const name of ["device_id", "site_id", "kind", "model", "serial", "firmware"]) {
    const value = String(form.get(name) || "").trim();
    if (value) body[name] = value;
  }
  const due = String(form.get("calibration_due") || "");
  if (due) body.calibration_due_at = due + "T00:00:00Z";
  try {
    const answer = await call("POST", "/devices", body);
    if (answer.status !== 201) {
      showProblem("Not registered: " + detailOf(answer));
      return;
    }
    showProblem("");
    $("register-form").reset();
    showCredentials(answer.body.credentials);
    notice("Registered " + answer.body.device.device_id + ": enter its credentials, then switch it on");
  } catch (error) {
    reportFailure("Cannot reach vaktrom", error);
  }
}

startPage({
  login: async (me) => {
    if (me.role !== "technician" && me.role !== "admin") {
      showProblem("This page is for technicians; role " + me.role + " may not manage devices.");
      return;
    }
    const sites = await api("GET", "/sites");
    $("register-site").replaceChildren(
      ...(sites.body || []).map((site) => {
        const option = el("option", null, site.name + " (" + site.site_id + ")");
        option.value = site.site_id;
        return option;
      }),
    );
    $("fleet").hidden = false;
    live.open(session.token);
  },
  logout: () => {
    live.close();
    $("fleet").hidden = true;
    devices = [];
    heardBefore = null;
  },
});

$("register-form").addEventListener("submit", register);
$("credentials-done").addEventListener("click", () => {
  $("credentials-password").textContent = ""; // gone from the page once entered
  $("credentials").hidden = true;
});
