// The list of the tenant's conversations in Live, refreshed every 2.5 s without a reload (every
// minute while the push channel tells the console of each change: push.js).

import { api, apiIfChanged, showError } from "./api.js";
import { formatDuration, onLanguageChange, register, t } from "./i18n.js";
import { agentName } from "./people.js";
import { renderCapacity } from "./presence.js";
import { listChanged, onSessionEnd, onSessionStart } from "./session.js";
import { $, element, state } from "./state.js";
import { renderConversation } from "./conversation.js";
import { closedLine, emptyText, readView } from "./views.js";

export const POLL_MS = 2500;
const WINDOW_WARNING_MS = 2 * 3600 * 1000; // warn when the channel's window closes within 2 h
export const CHANNELS = { whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram" };

let pollTimer = null;
let pollMs = POLL_MS;
let polling = false; // a refresh is under way: another asked meanwhile runs right after it
let again = null; // null, or whether the refresh asked meanwhile reads the open conversation too
let listTag = null; // the ETag of the list the console holds: the next refresh asks If-None-Match
let known = null; // the conversations as the previous refresh saw them (null before the first)
// The run's clock, as the server sees it (the local run moves it): queued_at + waited_seconds.
function serverNow(conversations) {
  for (const c of conversations) {
    if (c.queued_at && c.waited_seconds !== null) {
      return Date.parse(c.queued_at) + c.waited_seconds * 1000;
    }
  }
  return Date.now();
}

function windowWarning(conversation, now) {
  if (!conversation.window_closes_at) return null;
  const left = Date.parse(conversation.window_closes_at) - now;
  if (left <= 0) return t("list.windowClosed");
  if (left <= WINDOW_WARNING_MS) return t("list.windowCloses", { left: formatDuration(left / 1000) });
  return null;
}

function ordered(conversations) {
  // the queue first, the longest waiting first; then those with an agent
  const queued = (c) => (c.state === "queued" ? 0 : 1);
  const since = (c) => (c.queued_at ? Date.parse(c.queued_at) : Infinity);
  return [...conversations].sort((a, b) => queued(a) - queued(b) || since(a) - since(b));
}

// Yours, With <agent>, On hold (waiting after hours) or Waiting.
export function badge(c) {
  if (c.closed_at) return { kind: "closed", text: t("badge.closed") };
  if (c.state === "bot" || c.state === "offered") return { kind: "bot", text: t("badge.bot") }; // left Live
  if (c.state !== "queued" && c.agent_id) {
    const mine = c.agent_id === state.claims.sub;
    return mine ? { kind: "mine", text: t("badge.mine") } : { kind: "taken", text: t("badge.with", { agent: agentName(c) }) };
  }
  return c.on_hold ? { kind: "hold", text: t("badge.hold") } : { kind: "queued", text: t("badge.waiting") };
}

export function renderList() {
  const list = $("conversations");
  const focusedId = document.activeElement && document.activeElement.dataset.id;
  const now = serverNow(state.conversations);
  const listed = state.shown || state.conversations; // the chosen view (views.js), else all of Live
  list.replaceChildren();
  for (const c of listed) {
    const item = element("li", "conversation");
    item.dataset.id = c.id;
    item.dataset.state = c.state;
    const button = element("button", "open");
    button.type = "button";
    button.dataset.id = c.id;
    if (c.id === state.selected) button.setAttribute("aria-current", "true");
    const top = element("span", "line");
    top.append(element("span", `channel ${c.channel}`, CHANNELS[c.channel] || c.channel));
    top.append(element("span", "name", c.user_name || t("list.unnamed")));
    const shown = badge(c);
    top.append(element("span", `badge ${shown.kind}`, shown.text));
    button.append(top);
    const last = state.lastMessages.get(c.id);
    // a closed item's transcript is not read for it (up to 100 of them): its closing line says enough
    if (last || !c.closed_at) button.append(element("span", "last", last ? last.text : "…"));
    const bottom = element("span", "line small");
    if (c.state === "queued" && c.waited_seconds !== null) {
      bottom.append(element("span", "waited", t("list.waited", { waited: formatDuration(c.waited_seconds) })));
    }
    const warning = windowWarning(c, now);
    if (warning) bottom.append(element("span", "warning", warning));
    const closed = closedLine(c);
    if (closed) bottom.append(element("span", "closed-by", closed));
    button.append(bottom);
    if (c.notice) button.append(element("span", "notice", c.notice));
    item.append(button);
    list.append(item);
    if (focusedId === c.id) button.focus();
  }
  // a list stops at its first 100: say how many the view has
  const total = (state.shown ? state.shownTotal : state.total) ?? listed.length;
  $("count").textContent = total > listed.length ? t("list.countOf", { shown: listed.length, total }) : `(${listed.length})`;
  $("empty").textContent = emptyText();
  $("empty").hidden = listed.length > 0;
  renderCapacity();
  // a console in a background tab still says how many users wait, in the tab's title
  const waiting = state.counts ? state.counts.queue : state.conversations.filter((c) => c.state === "queued").length;
  document.title = waiting ? `(${waiting}) ${t("page.title")}` : t("page.title");
}

export function lastUserText(transcript) {
  for (let i = transcript.length - 1; i >= 0; i -= 1) {
    const entry = transcript[i];
    if (entry.author === "user") return entry.text || `[${t(`kind.${entry.kind}`)}]`;
  }
  return "";
}

async function refreshLastMessages() {
  // the summary has no text: read a transcript only when the user wrote since it was last read
  const stale = state.conversations.filter((c) => {
    const seen = state.lastMessages.get(c.id);
    return !seen || seen.stamp !== c.last_user_message_at;
  });
  await Promise.all(
    stale.map(async (c) => {
      try {
        const detail = await api("GET", `/live/conversations/${encodeURIComponent(c.id)}`);
        state.lastMessages.set(c.id, { stamp: c.last_user_message_at, text: lastUserText(detail.transcript) });
      } catch {
        // the next poll tries again
      }
    }),
  );
}

export async function refreshList() {
  // unchanged since the last answer (within the minute): a 304, nothing to read or draw anew
  const answer = await apiIfChanged("/live/conversations", listTag);
  if (!answer.unchanged) {
    listTag = answer.etag;
    state.conversations = ordered(answer.body.conversations);
    state.total = answer.body.total ?? state.conversations.length;
    state.counts = answer.body.counts || null;
  }
  await readView();
  await refreshLastMessages();
  renderList();
  const before = known;
  known = state.conversations;
  listChanged(before, known);
}

async function poll(withConversation = true) {
  if (!state.token) return;
  if (polling) {
    again = again || withConversation;
    return;
  }
  clearTimeout(pollTimer);
  polling = true;
  try {
    // the open conversation first: its transcript also gives the list its last message, so the
    // list reads no transcript again for it (one read per change, not two)
    let failed = null;
    if (state.selected && withConversation) await renderConversation().catch((error) => (failed = error));
    await refreshList();
    if (failed) throw failed;
  } catch (error) {
    if (error.status !== 401) showError(error.message);
  } finally {
    polling = false;
    if (state.token) pollTimer = setTimeout(poll, pollMs);
    if (again !== null && state.token) {
      const conversationToo = again;
      again = null;
      poll(conversationToo);
    }
  }
}

// Refresh now (a push said something changed): the list, and the open conversation if asked.
export function pollNow(withConversation = true) {
  poll(withConversation);
}

// How often the list is refreshed when nothing says it changed (push.js: slow while pushes come).
export function pollEvery(ms) {
  if (ms === pollMs) return;
  pollMs = ms;
  if (state.token && !polling) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, pollMs);
  }
}

onSessionStart(() => {
  clearTimeout(pollTimer);
  known = null;
  listTag = null; // another agent's list, maybe: asked whole
  poll();
});

onSessionEnd(() => {
  clearTimeout(pollTimer);
  pollTimer = null;
  again = null;
  known = null;
  listTag = null;
  Object.assign(state, { total: null, counts: null, shownTotal: null });
  document.title = t("page.title");
});

onLanguageChange(() => {
  if (state.token) renderList();
  else document.title = t("page.title");
});

register({
  en: {
    "page.title": "Live: agents' console",
    "list.unnamed": "Unnamed user",
    "list.waited": "Waiting {waited}",
    "list.countOf": "({shown} of {total})",
    "list.windowClosed": "Window closed",
    "list.windowCloses": "Window closes in {left}",
    "badge.mine": "Yours",
    "badge.with": "With {agent}",
    "badge.hold": "On hold",
    "badge.waiting": "Waiting",
  },
  es: {
    "page.title": "Live: consola de agentes",
    "list.unnamed": "Usuario sin nombre",
    "list.waited": "Esperando {waited}",
    "list.countOf": "({shown} de {total})",
    "list.windowClosed": "Ventana cerrada",
    "list.windowCloses": "La ventana cierra en {left}",
    "badge.mine": "Tuya",
    "badge.with": "Con {agent}",
    "badge.hold": "En espera",
    "badge.waiting": "Esperando",
  },
  pt: {
    "page.title": "Live: console dos agentes",
    "list.unnamed": "Usuário sem nome",
    "list.waited": "Aguardando {waited}",
    "list.countOf": "({shown} de {total})",
    "list.windowClosed": "Janela fechada",
    "list.windowCloses": "A janela fecha em {left}",
    "badge.mine": "Sua",
    "badge.with": "Com {agent}",
    "badge.hold": "Em espera",
    "badge.waiting": "Aguardando",
  },
});
