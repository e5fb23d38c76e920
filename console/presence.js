// Online / Offline, the heartbeat that keeps the agent online, and the chats counted against seats.

import { api, attempt } from "./api.js";
import { onLanguageChange, register, t } from "./i18n.js";
import { onSessionEnd } from "./session.js";
import { $, state } from "./state.js";

const HEARTBEAT_MS = 30000; // presence lapses after 2 minutes without a report

let heartbeatTimer = null;

function setPresenceText() {
  $("presence-text").textContent = state.online ? t("presence.online") : t("presence.offline");
  $("presence-label").classList.toggle("on", state.online);
  renderCapacity();
}

// How many of the agent's seats their chats take; the seats come with the presence answer.
export function renderCapacity() {
  const mine = (c) => c.state === "with_agent" && c.agent_id === state.claims.sub;
  // the Live API counts them over the whole of Live (the list stops at its first 100)
  const chats = state.counts ? state.counts.mine : state.conversations.filter(mine).length;
  $("capacity").hidden = !(state.online && state.seats);
  $("capacity").textContent = t("presence.capacity", { chats, seats: state.seats });
  $("capacity").classList.toggle("full", chats >= state.seats);
}

export async function setPresence(online) {
  const done = await attempt(async () => {
    state.seats = (await api("PUT", "/live/presence", { online })).seats;
    return true;
  });
  if (!done) {
    $("presence").checked = state.online;
    return;
  }
  state.online = online;
  setPresenceText();
  clearInterval(heartbeatTimer);
  heartbeatTimer = online
    ? setInterval(() => attempt(() => api("PUT", "/live/presence", { online: true })), HEARTBEAT_MS)
    : null;
}

onSessionEnd(() => {
  clearInterval(heartbeatTimer);
  heartbeatTimer = null;
  $("presence").checked = false;
  setPresenceText();
});

onLanguageChange(setPresenceText);

register({
  en: {
    "presence.online": "Online",
    "presence.offline": "Offline",
    "presence.capacity": "Chats {chats} of {seats}",
  },
  es: {
    "presence.online": "En línea",
    "presence.offline": "Desconectado",
    "presence.capacity": "Chats {chats} de {seats}",
  },
  pt: {
    "presence.online": "Online",
    "presence.offline": "Offline",
    "presence.capacity": "Chats {chats} de {seats}",
  },
});
