// Ward page alarms (IEC 60601-1-8 priorities): high = looping burst + browser notification + banner, medium = one
// chime, low = the bed card only. Only acknowledgement (here or on another screen) or resolution stops an alarm.

const HIGH = "high";
const MEDIUM = "medium";
// A technical alarm: the screen has stopped receiving alarms (its sign-in ended without a log-out, or its stream is
// lost: ward.js). A ward screen must not go quiet without a sound: a banner line, a notification, and a chime now
// and again until it receives again. Often enough to be heard on a night round, rare enough not to become noise.
const SCREEN_LOST_REPEAT_MS = 60000;
const SCREEN_LOST_TAG = "vaktrom-screen-lost";

const dom = {};
const announced = new Map(); // alert_id -> ms of the updated_at whose opening was announced
const notifications = new Map(); // alert_id -> Notification
let entries = []; // the last alerts seen: { alert, key, label, wardName, patientName }
let soundBlocked = false;
let chimePending = false; // a medium chime the browser refused: played on the enabling click
let showBed = () => {};
let screenLost = null; // { reason, repeat, notification } while the technical alarm is on

const $ = (id) => document.getElementById(id);

function setupAlarms(options) {
  showBed = options.showBed;
  dom.alarm = $("alarm-audio");
  dom.chime = $("chime-audio");
  dom.banner = $("alarm-banner");
  dom.setup = $("alarm-setup");
  dom.notifyState = $("notify-state");
  dom.notifyEnable = $("notify-enable");
  dom.soundBlocked = $("sound-blocked");
  dom.notifyEnable.addEventListener("click", askNotificationPermission);
  dom.soundBlocked.addEventListener("click", retrySound);
  // Any gesture on the page lets the browser play sound: use the first one to sound what is due.
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, () => soundBlocked && retrySound(), true);
  }
  window.addEventListener("pagehide", () => {
    closeAllNotifications();
    setScreenLost(null);
  });
  watchPermission();
  showNotificationState();
  probeSound();
}

function showAlarmSetup(visible) {
  dom.setup.hidden = !visible;
}

// --- what sounds ----------------------------------------------------------------------------------------------

function syncAlarms(current) {
  entries = current;
  const open = openAlerts();
  const openIds = new Set(open.map((e) => e.alert.alert_id));
  for (const id of announced.keys()) {
    if (!openIds.has(id)) announced.delete(id); // acknowledged or resolved: its next opening is news again
  }
  const high = highOpen();
  const highIds = new Set(high.map((e) => e.alert.alert_id));
  for (const id of notifications.keys()) {
    if (!highIds.has(id)) closeNotification(id);
  }
  const fresh = open.filter(isFresh);
  for (const entry of fresh) announced.set(entry.alert.alert_id, Date.parse(entry.alert.updated_at));
  renderBanner(high);
  for (const entry of fresh) {
    if (entry.alert.priority === HIGH) notify(entry);
  }
  setLooping(high.length > 0);
  // The high burst already sounds: a chime on top only blurs it.
  if (!high.length && fresh.some((e) => e.alert.priority === MEDIUM)) playChime();
}

function clearAlarms() {
  syncAlarms([]);
  chimePending = false;
}

// The technical alarm on (`reason`: what the banner and notification say) or off (null).
function setScreenLost(reason) {
  if (screenLost !== null) {
    clearInterval(screenLost.repeat);
    if (screenLost.notification) screenLost.notification.close();
    screenLost = null;
  }
  if (reason) {
    const repeat = setInterval(playChime, SCREEN_LOST_REPEAT_MS);
    screenLost = { reason, repeat, notification: notifyScreenLost(reason) };
    playChime();
  }
  renderBanner(highOpen());
}

function openAlerts() {
  return entries.filter((e) => e.alert.state === "open");
}

function highOpen() {
  return openAlerts().filter((e) => e.alert.priority === HIGH);
}

function isFresh(entry) {
  // First seen open, or open again since we announced it (re-opened, re-notified, raised): a newer updated_at.
  const seen = announced.get(entry.alert.alert_id);
  return seen === undefined || Date.parse(entry.alert.updated_at) > seen;
}

function setLooping(on) {
  if (on && dom.alarm.paused) {
    dom.alarm.currentTime = 0;
    dom.alarm.play().then(soundAllowed, soundRefused);
  } else if (!on && !dom.alarm.paused) {
    dom.alarm.pause();
    dom.alarm.currentTime = 0;
  }
}

function playChime() {
  chimePending = false;
  dom.chime.currentTime = 0;
  dom.chime.play().then(soundAllowed, (error) => {
    chimePending = error.name === "NotAllowedError";
    soundRefused(error);
  });
}

function probeSound() {
  // A silent play tells at once whether the browser will let the page sound, so the banner shows before the
  // first alarm rather than during it. Detached: the page's own alarm elements never see it.
  const probe = new Audio(dom.chime.currentSrc || dom.chime.src);
  probe.volume = 0;
  probe.play().then(() => {
    probe.pause();
    soundAllowed();
  }, soundRefused);
}

function soundAllowed() {
  soundBlocked = false;
  dom.soundBlocked.hidden = true;
}

function soundRefused(error) {
  if (error.name === "AbortError") return; // paused before it started: an acknowledgement won the race
  soundBlocked = true;
  dom.soundBlocked.textContent =
    error.name === "NotAllowedError"
      ? "Alarm sound is blocked — click to enable"
      : "Alarm sound failed (" + error.name + ") — click to retry";
  dom.soundBlocked.hidden = false;
}

function retrySound() {
  // Runs inside the user's gesture: the browser now lets the page play.
  if (highOpen().length) {
    if (dom.alarm.paused) setLooping(true);
    else soundAllowed();
  } else if (chimePending) {
    playChime();
  } else {
    probeSound();
  }
}

// --- what shows -----------------------------------------------------------------------------------------------

function placeOf(entry) {
  return entry.key.startsWith("home:") ? entry.label + " · " + entry.patientName : entry.label;
}

function renderBanner(high) {
  const lines = high.map((e) => "High alert: " + placeOf(e) + " — " + e.alert.message);
  if (screenLost !== null) lines.unshift("Technical alarm: " + screenLost.reason);
  // Rewrite only on change: a live region re-announces whatever is written into it.
  if (lines.join("\n") === Array.from(dom.banner.children, (p) => p.textContent).join("\n")) return;
  dom.banner.replaceChildren(
    ...lines.map((line) => {
      const p = document.createElement("p");
      p.textContent = line;
      return p;
    }),
  );
}

// --- browser notifications ------------------------------------------------------------------------------------

function notificationsSupported() {
  return "Notification" in window && window.isSecureContext;
}

function showNotificationState() {
  let text;
  let canAsk = false;
  if (!notificationsSupported()) {
    text = "Alarm notifications: not available here (the page needs HTTPS)";
  } else if (Notification.permission === "granted") {
    text = "Alarm notifications: on";
  } else if (Notification.permission === "denied") {
    text = "Alarm notifications: blocked in this browser's site settings";
  } else {
    text = "Alarm notifications: off";
    canAsk = true;
  }
  dom.notifyState.textContent = text;
  dom.notifyState.dataset.permission = notificationsSupported() ? Notification.permission : "unsupported";
  dom.notifyEnable.hidden = !canAsk;
}

async function askNotificationPermission() {
  if (!notificationsSupported()) return;
  await Notification.requestPermission(); // a click handler: browsers only ask on a user gesture
  onPermissionChange();
}

function watchPermission() {
  if (!notificationsSupported() || !navigator.permissions) return;
  navigator.permissions.query({ name: "notifications" }).then(
    (status) => status.addEventListener("change", onPermissionChange),
    () => {}, // no change events in this browser: the state shown updates on the button's answer
  );
}

function onPermissionChange() {
  showNotificationState();
  if (!notificationsSupported() || Notification.permission !== "granted") return;
  // Alerts that went off while notifications were off get theirs now.
  for (const entry of entries) {
    const { alert } = entry;
    if (alert.state === "open" && alert.priority === HIGH && !notifications.has(alert.alert_id)) notify(entry);
  }
}

function notify(entry) {
  if (!notificationsSupported() || Notification.permission !== "granted") return;
  const { alert } = entry;
  const place = entry.key.startsWith("home:") ? "Home patient" : entry.label;
  // No patient name: notifications outlive the page in the system's notification centre.
  let notification;
  try {
    const where = entry.wardName ? place + ", " + entry.wardName : place;
    notification = new Notification(where + ": " + alert.message, {
      body: "High priority alert. Acknowledge it on the Vaktrom ward page.",
      tag: String(alert.alert_id), // a repeat replaces the old one instead of stacking
      renotify: true, // ...and still sounds and shows again
      requireInteraction: true,
      lang: "en",
    });
  } catch (error) {
    dom.notifyState.textContent = "Alarm notifications: failed (" + error.message + ")";
    return;
  }
  const id = alert.alert_id;
  notification.addEventListener("click", () => {
    window.focus();
    showBed(entry.key);
  });
  notification.addEventListener("close", () => {
    if (notifications.get(id) === notification) notifications.delete(id);
  });
  notifications.set(id, notification); // a previous one with this tag is already replaced: never close it too
}

function notifyScreenLost(reason) {
  if (!notificationsSupported() || Notification.permission !== "granted") return null;
  try {
    return new Notification("Vaktrom ward screen: not receiving alarms", {
      body: reason,
      tag: SCREEN_LOST_TAG,
      requireInteraction: true,
      lang: "en",
    });
  } catch (error) {
    dom.notifyState.textContent = "Alarm notifications: failed (" + error.message + ")";
    return null;
  }
}

function closeNotification(id) {
  const notification = notifications.get(id);
  notifications.delete(id);
  if (notification) notification.close();
}

function closeAllNotifications() {
  for (const id of Array.from(notifications.keys())) closeNotification(id);
}

export { setupAlarms, showAlarmSetup, syncAlarms, clearAlarms, setScreenLost };
