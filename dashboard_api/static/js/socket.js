// The live socket every page shares: the token as a subprotocol, a snapshot (seq 0) then deltas in order. A gap in
// seq means a lost delta: close and take a fresh snapshot rather than show a wrong list. Reconnects with capped,
// jittered backoff; a refusal that would repeat (4400/4401/4403/4404) is reported, not retried, except a token that
// ended while a renewed one is at hand (auth.js): then it reconnects at once with that one.

import { API, tokenAfter } from "./auth.js";

const BACKOFF_MIN_MS = 500; // a restart comes back quickly
const BACKOFF_MAX_MS = 30000; // a long outage costs little
const NO_RECONNECT = new Set([4400, 4401, 4403, 4404]); // the same request would fail the same way
export const RESNAPSHOT = 4000;
// The server sends at least a heartbeat every 15 s (dashboard_api/ws.py HEARTBEAT_S). Nothing for three of them
// means a dead connection that never closed (a half-open TCP connection): drop it and reconnect, as after a close.
const SILENT_AFTER_MS = 45000;
const SILENT = 4008; // our own code for that drop; never sent by the server

export class LiveSocket {
  // handlers: snapshot(message), delta(message) -> false to resnapshot, status(text, kind), stale(bool),
  // unauthenticated(reason), refused(reason)
  constructor(path, handlers) {
    this.path = path;
    this.handlers = handlers;
    this.socket = null;
    this.seq = -1;
    this.backoffMs = BACKOFF_MIN_MS;
    this.timer = null;
    this.watchdog = null;
    this.token = null;
  }

  open(token) {
    this.token = token;
    this.backoffMs = BACKOFF_MIN_MS;
    this.connect();
  }

  close() {
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000, "leaving");
      this.socket = null;
    }
  }

  connect() {
    this.close();
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const url = scheme + window.location.host + API + this.path;
    this.handlers.status("Connecting…", "wait");
    // The token travels in the Sec-WebSocket-Protocol header, never in the URL (which proxies log).
    const socket = new WebSocket(url, ["bearer", this.token]);
    this.socket = socket;
    this.seq = -1;
    socket.onmessage = (event) => this.receive(socket, JSON.parse(event.data));
    socket.onclose = (event) => this.closed(event);
    this.watch(socket);
  }

  // (Re)start the wait for the next message on `socket`.
  watch(socket) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (socket !== this.socket) return;
      socket.onmessage = null;
      socket.onclose = null;
      socket.close(SILENT, "silent");
      this.closed({ code: SILENT, reason: "no message for " + SILENT_AFTER_MS / 1000 + " s" });
    }, SILENT_AFTER_MS);
  }

  receive(socket, message) {
    if (socket !== this.socket) return;
    this.watch(socket);
    if (message.type === "heartbeat") {
      // Its seq is the last one the server sent: another than ours means we lost a delta.
      if (this.seq >= 0 && message.seq !== this.seq) socket.close(RESNAPSHOT, "sequence gap");
      return;
    }
    if (message.seq === 0) {
      this.seq = 0;
      this.backoffMs = BACKOFF_MIN_MS;
      this.handlers.stale(false);
      this.handlers.snapshot(message);
      this.handlers.status("Live", "ok");
      return;
    }
    if (message.seq !== this.seq + 1) {
      socket.close(RESNAPSHOT, "sequence gap");
      return;
    }
    this.seq = message.seq;
    if (this.handlers.delta(message) === false) socket.close(RESNAPSHOT, "resnapshot");
  }

  closed(event) {
    this.socket = null;
    clearTimeout(this.watchdog);
    if (event.code === 4401) {
      this.handlers.stale(true);
      tokenAfter(this.token)
        .catch(() => null)
        .then((renewed) => {
          if (renewed === null) this.handlers.unauthenticated(event.reason || "Log in again.");
          else if (this.socket === null) this.open(renewed); // a fresh snapshot: nothing missed meanwhile
        });
      return;
    }
    if (NO_RECONNECT.has(event.code)) {
      this.handlers.status("Not connected", "bad");
      this.handlers.refused(event.reason || "The server refused this stream.");
      return;
    }
    const delay = event.code === RESNAPSHOT ? 0 : Math.round(this.backoffMs * (0.5 + Math.random()));
    if (event.code !== RESNAPSHOT) this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.handlers.status(delay ? "Reconnecting in " + Math.ceil(delay / 1000) + " s" : "Reconnecting…", "bad");
    this.handlers.stale(true);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
