// Shared by every page: the bearer token (from the identity provider, a login link's fragment or the login form, kept
// in sessionStorage), calls to the API with it, the login form, the top bar (who, navigation, log out) and the
// problem line.

export const API = "/api/v1";
const TOKEN_KEY = "vaktrom.token";
// A sign-in this tab started at the identity provider: its state, PKCE verifier, token endpoint and the page to
// return to. The provider answers on "/" (the one redirect URI to register), whatever page the user started on.
const SIGN_IN_KEY = "vaktrom.signIn";
// One login form for every page (each page has the empty section): static text, no user data.
const LOGIN_FORM = `
  <h2 id="login-title">Log in</h2>
  <p id="provider-sign-in" hidden><button type="button" id="provider-button">Log in with your identity provider</button></p>
  <p>Paste your access token (from <code>vaktrom token</code> or the demo link).</p>
  <form id="login-form">
    <label for="token-input">Token</label>
    <textarea id="token-input" rows="4" autocomplete="off" spellcheck="false" required></textarea>
    <button type="submit">Log in</button>
  </form>`;
let provider = null; // GET /sign-in's provider, when the pages sign in there

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
  $("provider-sign-in").hidden = provider === null;
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

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

const randomText = (bytes) => base64url(crypto.getRandomValues(new Uint8Array(bytes)));
const callbackUri = () => window.location.origin + "/";

async function readSignIn() {
  try {
    const response = await fetch(API + "/sign-in", { cache: "no-store" });
    return response.ok ? (await response.json()).provider : null;
  } catch (_) {
    return null; // the form still works
  }
}

// Authorisation code with PKCE (RFC 7636): off to the provider, which sends the browser back to "/" with a code.
async function beginProviderSignIn() {
  if (!window.crypto || !crypto.subtle) throw new Error("signing in at the provider needs this page on https");
  const discovery = await fetch(provider.issuer.replace(/\/$/, "") + "/.well-known/openid-configuration");
  if (!discovery.ok) throw new Error("the identity provider's discovery document answered HTTP " + discovery.status);
  const endpoints = await discovery.json();
  const verifier = randomText(48);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = randomText(24);
  const returnTo = window.location.pathname + window.location.search;
  const started = { state, verifier, tokenEndpoint: endpoints.token_endpoint, returnTo };
  sessionStorage.setItem(SIGN_IN_KEY, JSON.stringify(started));
  const url = new URL(endpoints.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: provider.client_id,
    redirect_uri: callbackUri(),
    scope: provider.scope,
    resource: provider.resource,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.toString());
}

// The provider's answer (?code&state, or ?error) on "/": the code becomes the token, and the page the user started
// on loads again. Returns true when this page is being left for it. Throws what went wrong, for the problem line.
async function finishProviderSignIn() {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("code") && !params.has("error")) return false;
  history.replaceState(null, "", window.location.pathname); // the code never stays in the address bar
  const started = JSON.parse(sessionStorage.getItem(SIGN_IN_KEY) || "null");
  sessionStorage.removeItem(SIGN_IN_KEY);
  if (params.has("error")) {
    throw new Error("the identity provider refused: " + (params.get("error_description") || params.get("error")));
  }
  if (provider === null || !started || started.state !== params.get("state")) {
    throw new Error("this answer from the identity provider is not for a sign-in started here; log in again");
  }
  const response = await fetch(started.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: callbackUri(),
      client_id: provider.client_id,
      code_verifier: started.verifier,
      resource: provider.resource,
    }),
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    const why = body.error_description || body.error || "HTTP " + response.status;
    throw new Error("the identity provider gave no token: " + why);
  }
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  if (started.returnTo === window.location.pathname) {
    session.freshLogin = true; // as after a login link: the ward sends a specialist on to their alerts
    return false;
  }
  window.location.replace(started.returnTo);
  return true;
}

async function start() {
  try {
    if (await finishProviderSignIn()) return;
  } catch (error) {
    showLogin("Sign-in failed: " + error.message);
    return;
  }
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

// Fill and wire the login form and the log-out button, then start: with the provider's answer, the token we have, or
// the form.
// `login(me)` runs once the token is known to be good; `logout()` clears what the page shows.
export async function startPage({ login, logout }) {
  onLogin = login;
  onLogout = logout;
  takeTokenFromFragment(); // at once, before any wait: the token leaves the address bar even if the user moves on
  $("login").innerHTML = LOGIN_FORM;
  $("provider-button").addEventListener("click", () => {
    showProblem("");
    beginProviderSignIn().catch((error) => showProblem("Sign-in failed: " + error.message));
  });
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
  provider = await readSignIn();
  start();
}
