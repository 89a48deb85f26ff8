// Shared by every page: the bearer token (from a login link's fragment or the login form, kept in sessionStorage),
// calls to the API with it, the top bar (who, navigation, log out) and the problem line.

export const API = "/api/v1";
const TOKEN_KEY = "vaktrom.token";

export const session = { token: null, me: null, freshLogin: false };
let onLogout = () => {};
let onLogin = () => {};

export const $ = (id) => document.getElementById(id);

function takeTokenFromFragment() {
  // The fragment never reaches the server; move the token out of the address bar at once.
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
    session.freshLogin = true;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function showProblem(message) {
  $("problem").textContent = message;
  $("problem").hidden = !message;
}

export function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.dataset.kind = kind || "";
}

// The top bar's links: the pages the server says this user's role may use (GET /me), this one marked.
function showPages(pages) {
  const links = pages.map((page) => {
    const link = document.createElement("a");
    link.href = page.path;
    link.textContent = page.title;
    if (page.path === window.location.pathname) link.setAttribute("aria-current", "page");
    return link;
  });
  $("pages").replaceChildren(...links);
}

export function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.me = null;
  $("login").hidden = false;
  $("logout").hidden = true;
  $("who").textContent = "";
  showPages([]);
  onLogout();
  setStatus("Not connected");
  showProblem(message || "");
}

export class Unauthenticated extends Error {
  constructor() {
    super("unauthenticated");
  }
}

// One call: { status, body }; `payload`, when given, is sent as JSON. A 401 ends the session (the login form shows)
// and throws Unauthenticated.
export async function api(method, path, payload) {
  const headers = { Authorization: "Bearer " + session.token, Accept: "application/json" };
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    body: payload === undefined ? undefined : JSON.stringify(payload),
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
    throw new Unauthenticated();
  }
  return { status: response.status, body };
}

export function reportFailure(what, error) {
  if (!(error instanceof Unauthenticated)) showProblem(what + ": " + error.message);
}

async function start() {
  session.token = takeTokenFromFragment();
  if (!session.token) {
    showLogin();
    return;
  }
  $("login").hidden = true;
  $("logout").hidden = false;
  try {
    const me = await api("GET", "/me");
    if (me.status !== 200) throw new Error((me.body && me.body.detail) || "HTTP " + me.status);
    session.me = me.body;
    $("who").textContent = me.body.user_id + " · " + me.body.role;
    showPages(me.body.pages);
    await onLogin(me.body);
  } catch (error) {
    reportFailure("Cannot reach vaktrom", error);
  }
}

// Wire the login form and the log-out button, then start with the token we have (or show the form).
// `login(me)` runs once the token is known to be good; `logout()` clears what the page shows.
export function startPage({ login, logout }) {
  onLogin = login;
  onLogout = logout;
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
  start();
}
