// Live updates (docs/console.md): a WebSocket on the push channel tells the console at once that a
// conversation of the tenant changed, and the console reads what changed through the Live API.
// While the socket is open the list is refreshed only once a minute besides; when it drops the
// console polls every 2.5 s again and reconnects, waiting longer after each failure.
//
// A socket opens with a single-use ticket the Live API gives the signed-in agent (POST
// /live/push-ticket), never with the token itself: a URL's query ends up in access logs. `?push=off`
// on the console's address turns live updates off (to compare, or to rule them out).

import { api } from "./api.js";
import { onLanguageChange, register, t } from "./i18n.js";
import { POLL_MS, pollEvery, pollNow } from "./list.js";
import { onSessionEnd, onSessionStart } from "./session.js";
import { $, state } from "./state.js";

const SAFETY_REFRESH_MS = 60000; // with the socket open: what a lost push missed shows within a minute
const PING_MS = 5 * 60 * 1000; // API Gateway closes a socket silent for 10 minutes
const RETRY_MS = [1000, 2000, 5000, 10000, 30000]; // after the 1st, 2nd... failure; then the last
const OFF = new URLSearchParams(window.location.search).get("push") === "off";

let socket = null;
let live = false;
let failures = 0;
let retryTimer = null;
let pingTimer = null;
let session = 0; // a socket or ticket of an earlier session (signed out since) is dropped

function render(shown = true) {
  const box = $("push-state");
  box.hidden = !shown;
  box.dataset.state = live ? "live" : "polling";
  box.textContent = live ? t("push.live") : t("push.polling");
  box.title = live ? t("push.liveHint") : t("push.pollingHint");
  box.setAttribute("aria-label", box.title);
}

function setLive(now) {
  live = now;
  pollEvery(live ? SAFETY_REFRESH_MS : POLL_MS);
  render();
}

async function connect() {
  const mine = session;
  let ticket;
  try {
    ticket = await api("POST", "/live/push-ticket");
  } catch (error) {
    if (mine === session && error.status !== 401) retry(); // a 401 signed the agent out already
    return;
  }
  if (mine !== session || !state.token) return;
  const address = new URL(ticket.url);
  address.searchParams.set("ticket", ticket.ticket);
  let opened;
  try {
    opened = new WebSocket(address.href);
  } catch {
    retry(); // an address the browser refuses to open
    return;
  }
  socket = opened;
  opened.addEventListener("open", () => {
    if (socket !== opened) return;
    failures = 0;
    setLive(true);
    pingTimer = setInterval(() => opened.send(JSON.stringify({ action: "ping" })), PING_MS);
    pollNow(); // what changed while no socket was open
  });
  opened.addEventListener("message", (event) => {
    if (socket !== opened) return;
    let change;
    try {
      change = JSON.parse(event.data);
    } catch {
      return;
    }
    // the list always; the open conversation's transcript only when it is the one that changed
    pollNow(Boolean(state.selected) && change.conversation_id === state.selected);
  });
  opened.addEventListener("close", () => {
    if (socket !== opened) return;
    socket = null;
    clearInterval(pingTimer);
    setLive(false);
    retry();
  });
}

function retry() {
  clearTimeout(retryTimer);
  const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
  failures += 1;
  // up to a fifth more, so that consoles dropped together do not all come back at once
  retryTimer = setTimeout(connect, wait * (1 + Math.random() / 5));
}

function stop() {
  session += 1;
  clearTimeout(retryTimer);
  clearInterval(pingTimer);
  const closing = socket;
  socket = null;
  if (closing) closing.close(1000);
  failures = 0;
  live = false;
  pollEvery(POLL_MS);
}

onSessionStart(() => {
  stop();
  render();
  if (!OFF && "WebSocket" in window) connect();
});

onSessionEnd(() => {
  stop();
  render(false);
});

onLanguageChange(() => render(Boolean(state.token)));

register({
  en: {
    "push.live": "Live updates",
    "push.polling": "Updating every few seconds",
    "push.liveHint": "Live updates on: changes show as they happen",
    "push.pollingHint": "Live updates unavailable: the list is updated every few seconds",
  },
  es: {
    "push.live": "En vivo",
    "push.polling": "Actualizando cada pocos segundos",
    "push.liveHint": "Actualizaciones en vivo: los cambios aparecen al instante",
    "push.pollingHint": "Actualizaciones en vivo no disponibles: la lista se actualiza cada pocos segundos",
  },
  pt: {
    "push.live": "Ao vivo",
    "push.polling": "Atualizando a cada poucos segundos",
    "push.liveHint": "Atualizações ao vivo: as mudanças aparecem na hora",
    "push.pollingHint": "Atualizações ao vivo indisponíveis: a lista é atualizada a cada poucos segundos",
  },
});
