// Formatting shared by the pages: elements, ages against the server's clock, vitals, priorities and clock times.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// The units are in Norway: times read as the unit's own clock, whatever the browser's zone.
export const UNIT_ZONE = "Europe/Oslo";
const CLOCK = new Intl.DateTimeFormat("en-GB", { timeZone: UNIT_ZONE, hour: "2-digit", minute: "2-digit" });
const DATE_CLOCK = new Intl.DateTimeFormat("en-GB", {
  timeZone: UNIT_ZONE, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit",
});

let clockOffsetMs = 0; // server time minus browser time

export function syncClock(serverAt) {
  clockOffsetMs = Date.parse(serverAt) - Date.now();
}

export function serverNow() {
  return Date.now() + clockOffsetMs;
}

export function ageSeconds(at) {
  return (serverNow() - Date.parse(at)) / 1000;
}

export function ageText(at) {
  const seconds = Math.max(0, Math.round(ageSeconds(at)));
  if (seconds < 60) return seconds + " s ago";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
  if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
  return Math.floor(seconds / 86400) + " d ago";
}

// A chart's time axis: 21:00 on the unit's clock, for a tick given in seconds since the epoch.
export function hourText(seconds) {
  return CLOCK.format(new Date(seconds * 1000));
}

export function clockText(at) {
  const date = new Date(at);
  const sameDay = DATE_CLOCK.format(date).slice(0, 5) === DATE_CLOCK.format(new Date(serverNow())).slice(0, 5);
  return sameDay ? CLOCK.format(date) : DATE_CLOCK.format(date).replace(",", "");
}

export const VITALS = [
  ["resp_rate", "RR", "/min"],
  ["spo2", "SpO₂", "%"],
  ["supplemental_o2", "O₂", ""],
  ["systolic_bp", "BP", "mmHg"],
  ["pulse", "Pulse", "/min"],
  ["temperature", "Temp", "°C"],
  ["consciousness", "ACVPU", ""],
];

export function vitalText(parameter, value, diastolic) {
  if (parameter === "consciousness") return "ACVPU"[Math.round(value)] || "?";
  if (parameter === "supplemental_o2") return value >= 0.5 ? "Oxygen" : "Air";
  if (parameter === "systolic_bp") return Math.round(value) + (diastolic !== undefined ? "/" + Math.round(diastolic) : "");
  if (parameter === "temperature") return value.toFixed(1);
  return String(Math.round(value));
}

// IEC 60601-1-8 priorities: the word is always shown, the colour only adds to it.
export const PRIORITY_RANK = { high: 0, medium: 1, low: 2 };
export const PRIORITY_WORD = { high: "High", medium: "Medium", low: "Low" };

export function priorityChip(priority) {
  const chip = el("span", "prio-chip prio-" + priority, PRIORITY_WORD[priority] || priority);
  chip.dataset.priority = priority;
  return chip;
}

export function stateWord(alert) {
  if (alert.state === "acknowledged") return "Acknowledged" + (alert.acknowledged_by ? " by " + alert.acknowledged_by : "");
  if (alert.state === "resolved") return "Resolved";
  return "Open";
}

export function patientLink(patient) {
  const link = el("a", "patient-link", patient.display_name);
  link.href = "/patient?id=" + encodeURIComponent(patient.patient_id);
  return link;
}
