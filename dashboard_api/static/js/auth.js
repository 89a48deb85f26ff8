// Shared by every page: the bearer token (from the identity provider, a login link's fragment or the login form, kept
// in sessionStorage), calls to the API with it, the login form, the top bar (who, navigation, log out) and the
// problem line.

export const API = "/api/v1";
const TOKEN_KEY = "vaktrom.token";
// A sign-in this tab started at the identity provider: its state, PKCE verifier, token endpoint and the page to
// return to. The provider answers on "/" (the one redirect URI to register), whatever page the user started on.
const SIGN_IN_KEY = "vaktrom.signIn";
// When the provider gave a refresh token: { refreshToken, endpoints, renewAt, expiresAt } (ms since the epoch), where
// endpoints = { token, revocation } from the provider's discovery document.
// The page renews the access token before it ends, so a ward page left open all night keeps its stream and its
// alarms instead of falling back to the login form at every expiry.
const RENEWAL_KEY = "vaktrom.renewal";
// Renew this long before the access token ends, but at most a quarter of its life before (a short token still
// renews once, late in its life).
const RENEW_AHEAD_MAX_MS = 60000;
// A renewal that could not reach the provider is tried again this often, until the access token has ended.
const RENEW_RETRY_MS = 10000;
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
let renewalTimer = null;
let renewing = null; // the renewal in flight
let renewalFailed = false; // the problem line shows a failed renewal: a later success clears it

export const session = { token: null, me: null, freshLogin: false };
let onLogout = () => {};
let onLogin = () => {};

export const $ = (id) => document.getElementById(id);

function takeTokenFromFragment() {
  // The fragment never reaches the server; move the token out of the address bar at once.
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match) {
    forgetRenewal(); // renewing belongs to a provider's sign-in, not to this token
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

// The login form, with `message` on the problem line. A page learns whether a sign-in ended without the user's
// log-out (someone was signed in, and a message says why it ended).
export function showLogin(message) {
  const ended = session.me !== null && Boolean(message);
  sessionStorage.removeItem(TOKEN_KEY);
  forgetRenewal();
  session.token = null;
  session.me = null;
  $("provider-sign-in").hidden = provider === null;
  $("login").hidden = false;
  $("logout").hidden = true;
  $("who").textContent = "";
  showPages([]);
  onLogout(ended);
  setStatus("Not connected");
  showProblem(message || "");
}

export class Unauthenticated extends Error {
  constructor() {
    super("unauthenticated");
  }
}

// One call: { status, body }; `payload`, when given, is sent as JSON. A 401 is sent once more with a renewed token
// when there is one (refused before it did anything: safe to repeat); else it ends the session (the login form
// shows) and throws Unauthenticated.
export async function api(method, path, payload) {
  let response = await call(method, path, payload);
  if (response.status === 401 && (await tokenAfter(response.token)) !== null) {
    response = await call(method, path, payload);
  }
  if (response.status === 401) {
    showLogin("Your session has ended. Log in again.");
    throw new Unauthenticated();
  }
  return response;
}

// The call as sent: { status, body, token } (the token it carried).
async function call(method, path, payload) {
  const token = session.token;
  const headers = { Authorization: "Bearer " + token, Accept: "application/json" };
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
  return { status: response.status, body, token };
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
  const providerEndpoints = { token: endpoints.token_endpoint, revocation: endpoints.revocation_endpoint || null };
  const started = { state, verifier, endpoints: providerEndpoints, returnTo };
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

class ProviderRefused extends Error {}

// One call to the provider's token endpoint for this API's audience: the token response, or throws ProviderRefused
// with the provider's reason (a network failure throws as fetch does).
async function tokenRequest(endpoints, grant) {
  const response = await fetch(endpoints.token, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ ...grant, client_id: provider.client_id, resource: provider.resource }),
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    const why = body.error_description || body.error || "HTTP " + response.status;
    throw new ProviderRefused("the identity provider gave no token: " + why);
  }
  return body;
}

// Keep the access token, and what renews it when the provider gave a refresh token (rotated at each renewal).
function keepTokens(body, endpoints) {
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  const lifetimeMs = (Number(body.expires_in) || 0) * 1000;
  if (!body.refresh_token || lifetimeMs <= 0) {
    sessionStorage.removeItem(RENEWAL_KEY);
    return;
  }
  const expiresAt = Date.now() + lifetimeMs;
  const renewAt = expiresAt - Math.min(RENEW_AHEAD_MAX_MS, lifetimeMs / 4);
  const renewal = { refreshToken: body.refresh_token, endpoints, renewAt, expiresAt };
  sessionStorage.setItem(RENEWAL_KEY, JSON.stringify(renewal));
}

function forgetRenewal() {
  clearTimeout(renewalTimer);
  sessionStorage.removeItem(RENEWAL_KEY);
}

function storedRenewal() {
  return provider === null ? null : JSON.parse(sessionStorage.getItem(RENEWAL_KEY) || "null");
}

const isStored = (renewal) => storedRenewal()?.refreshToken === renewal.refreshToken;

function scheduleRenewal(delayMs) {
  clearTimeout(renewalTimer);
  const renewal = storedRenewal();
  if (renewal === null) return;
  const wait = delayMs === undefined ? renewal.renewAt - Date.now() : delayMs;
  renewalTimer = setTimeout(() => renewOnce(renewal), Math.max(0, wait));
}

// One renewal at a time: a refresh token is good once (rotation), and a provider that sees one used twice may end
// the whole sign-in.
function renewOnce(renewal) {
  renewing ??= renew(renewal).finally(() => {
    renewing = null;
  });
  return renewing;
}

// The token to use after the server refused `used`: a newer one, renewed now if its renewal is due (a tab woken from
// sleep after its timer should have run), or null. A token refused before then was not refused for its age: a new
// one would be refused too, so the login shows instead of a loop of renewals.
export async function tokenAfter(used) {
  const renewal = storedRenewal();
  if (session.token === used && renewal !== null && Date.now() >= renewal.renewAt) await renewOnce(renewal);
  return session.token && session.token !== used ? session.token : null;
}

// A new access token before the old one ends. The live sockets still carry the old one: the server closes them
// when it ends, and they reconnect with the new one (socket.js). A refusal (a revoked or expired refresh token)
// stops renewing and says so; at the old token's end the login shows as it does without renewal.
async function renew(renewal) {
  try {
    const body = await tokenRequest(renewal.endpoints, {
      grant_type: "refresh_token",
      refresh_token: renewal.refreshToken,
    });
    if (!isStored(renewal)) return; // logged out meanwhile
    keepTokens(body, renewal.endpoints);
    session.token = body.access_token;
    if (renewalFailed) showProblem("");
    renewalFailed = false;
    scheduleRenewal();
  } catch (error) {
    if (!isStored(renewal)) return;
    renewalFailed = true;
    if (error instanceof ProviderRefused) {
      sessionStorage.removeItem(RENEWAL_KEY);
      showProblem("Your sign-in could not be renewed (" + error.message + "); log in again when it ends.");
    } else if (Date.now() < renewal.expiresAt) {
      showProblem("Cannot reach the identity provider to renew your sign-in; trying again.");
      scheduleRenewal(RENEW_RETRY_MS);
    }
  }
}

// Log out here, and end the refresh token at the provider (RFC 7009) so that it renews nothing more, in this tab
// or in any copy of its storage (a duplicated tab).
function logOut() {
  const renewal = storedRenewal();
  showLogin();
  if (renewal === null || !renewal.endpoints.revocation) return;
  const ask = fetch(renewal.endpoints.revocation, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      token: renewal.refreshToken,
      token_type_hint: "refresh_token",
      client_id: provider.client_id,
    }),
    cache: "no-store",
    keepalive: true, // it still goes out if the user closes the tab at once
  });
  ask
    .then((response) => {
      if (!response.ok) throw new Error("HTTP " + response.status);
    })
    .catch((error) => showProblem("Logged out here, but the identity provider was not told: " + error.message));
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
  const body = await tokenRequest(started.endpoints, {
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: callbackUri(),
    code_verifier: started.verifier,
  });
  keepTokens(body, started.endpoints);
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
  scheduleRenewal();
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
// `login(me)` runs once the token is known to be good; `logout(ended)` clears what the page shows (`ended`: the
// sign-in ended without a log-out).
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
    forgetRenewal();
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    showProblem("");
    start();
  });
  $("logout").addEventListener("click", logOut);
  provider = await readSignIn();
  start();
}
