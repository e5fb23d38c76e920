// The list's views: Queue / Mine / All / Closed tabs, a channel filter and a search, kept while the
// list refreshes. The plain All view is the Live list each refresh reads anyway (it also counts the
// tabs and the tab title's waiting users); any other choice is asked of the Live API
// (GET /live/conversations?view=&channel=&q=), which filters and searches server-side.

import { api, attempt } from "./api.js";
import { renderConversation } from "./conversation.js";
import { formatTime, onLanguageChange, register, t } from "./i18n.js";
import { refreshList, renderList } from "./list.js";
import { onListChanged, onSessionEnd } from "./session.js";
import { $, state } from "./state.js";

const VIEWS = ["queue", "mine", "all", "closed"];
const SEARCH_DELAY_MS = 300; // the search is asked once the agent pauses typing
const CLOSED_REREAD_MS = 30000; // closed chats change seldom: read again every 30 s, not at each poll

const choice = { view: "all", channel: "", q: "" };
let asked = 0; // the latest view request: an older answer arriving late is dropped
let closedRead = { key: null, at: 0 };
let searchTimer = null;
const closedSeen = new Map(); // id -> its closed-view item: who closed a conversation opened from there

const chosen = () => JSON.stringify(choice);
const plain = () => choice.view === "all" && !choice.channel && !choice.q;

// Called by each refresh of the list, after the Live list: the chosen view's conversations in
// `state.shown` (null: the Live list itself).
export async function readView() {
  if (plain()) {
    state.shown = null;
    return;
  }
  const wanted = chosen();
  const fresh = Date.now() - closedRead.at < CLOSED_REREAD_MS;
  if (choice.view === "closed" && closedRead.key === wanted && fresh && state.shown) return;
  const ticket = ++asked;
  const query = new URLSearchParams({ view: choice.view });
  if (choice.channel) query.set("channel", choice.channel);
  if (choice.q) query.set("q", choice.q);
  const body = await api("GET", `/live/conversations?${query}`);
  if (ticket !== asked || wanted !== chosen()) return; // the agent chose again meanwhile
  state.shown = body.conversations;
  state.shownTotal = body.total ?? body.conversations.length;
  for (const c of body.conversations) if (c.closed_at) closedSeen.set(c.id, c);
  closedRead = choice.view === "closed" ? { key: wanted, at: Date.now() } : { key: null, at: 0 };
}

// What the list says when the view is empty, in the view's own words.
export function emptyText() {
  if (choice.q || choice.channel) return t("views.emptyFiltered");
  return t(`views.empty.${choice.view}`);
}

// "Closed by Carla on 3/2/26, 6:05 PM": for an item of the closed view, or a conversation opened
// from it that is not back in Live; null for any other.
export function closedLine(conversation) {
  const inLive = conversation.state === "queued" || conversation.state === "with_agent";
  const closed = conversation.closed_at ? conversation : inLive ? null : closedSeen.get(conversation.id);
  if (!closed) return null;
  const name = closed.closed_by_name || closed.closed_by || t("closed.unknownAgent");
  const date = formatTime(closed.closed_at);
  return t(closed.chat_outcome === "closed_idle" ? "closed.idle" : "closed.by", { name, date });
}

function counts() {
  if (state.counts) return state.counts; // the Live API's, over the whole of Live
  const all = state.conversations;
  const mine = (c) => c.state === "with_agent" && c.agent_id === state.claims.sub;
  return { queue: all.filter((c) => c.state === "queued").length, mine: all.filter(mine).length, all: all.length };
}

// The tabs, each with its count where the Live list gives it for free (the closed view has none).
function renderTabs() {
  const counted = counts();
  for (const view of VIEWS) {
    const tab = $(`view-${view}`);
    const selected = view === choice.view;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    const name = t(`views.${view}`);
    tab.textContent = view in counted ? t("views.counted", { name, n: counted[view] }) : name;
  }
  $("view-panel").setAttribute("aria-labelledby", `view-${choice.view}`);
}

async function choose(changes) {
  Object.assign(choice, changes);
  renderTabs();
  if (plain()) state.shown = null; // the Live list at once: no request to wait for
  renderList();
  const panel = $("view-panel");
  panel.setAttribute("aria-busy", "true"); // the previous view's list stays until the answer
  await attempt(refreshList);
  panel.removeAttribute("aria-busy");
  // the open conversation as this view knows it: one just closed says who closed it
  if (state.selected) await attempt(renderConversation);
}

function selectTab(view, focus) {
  if (focus) $(`view-${view}`).focus();
  if (view !== choice.view) choose({ view });
}

// Arrows move between the tabs (and choose), Home and End go to the first and the last.
function tabKeys(event) {
  const at = VIEWS.indexOf(choice.view);
  const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: VIEWS.length - 1 };
  if (!(event.key in moves)) return;
  event.preventDefault();
  selectTab(VIEWS[(moves[event.key] + VIEWS.length) % VIEWS.length], true);
}

function searchTyped(event) {
  clearTimeout(searchTimer);
  const q = event.target.value.trim();
  searchTimer = setTimeout(() => {
    if (q !== choice.q) choose({ q });
  }, SEARCH_DELAY_MS);
}

function searchKeys(event) {
  if (event.key !== "Escape" || !event.target.value) return;
  event.preventDefault();
  clearTimeout(searchTimer);
  event.target.value = "";
  if (choice.q) choose({ q: "" });
}

export function wireViews() {
  $("view-tabs").addEventListener("click", (event) => {
    const tab = event.target.closest("[role=tab]");
    if (tab) selectTab(tab.dataset.view, false);
  });
  $("view-tabs").addEventListener("keydown", tabKeys);
  $("channel-filter").addEventListener("change", (event) => choose({ channel: event.target.value }));
  $("search").addEventListener("input", searchTyped);
  $("search").addEventListener("keydown", searchKeys);
  renderTabs();
}

onListChanged(renderTabs);

onLanguageChange(renderTabs);

onSessionEnd(() => {
  clearTimeout(searchTimer);
  Object.assign(choice, { view: "all", channel: "", q: "" });
  state.shown = null;
  closedRead = { key: null, at: 0 };
  closedSeen.clear();
  $("channel-filter").value = "";
  $("search").value = "";
  renderTabs();
});

register({
  en: {
    "views.label": "Views",
    "views.queue": "Queue",
    "views.mine": "Mine",
    "views.all": "All",
    "views.closed": "Closed",
    "views.counted": "{name} ({n})",
    "views.channel": "Channel",
    "views.anyChannel": "All channels",
    "views.search": "Search",
    "views.searchPlaceholder": "Name or text (Esc clears)",
    "views.empty.queue": "Nobody is waiting.",
    "views.empty.mine": "You have no chats.",
    "views.empty.all": "No conversation in Live.",
    "views.empty.closed": "No chat was closed lately.",
    "views.emptyFiltered": "No conversation of this view matches the channel or the search.",
    "badge.closed": "Closed",
    "badge.bot": "With the bot",
    "closed.by": "Closed by {name} on {date}",
    "closed.idle": "Closed for inactivity on {date} (chat of {name})",
    "closed.unknownAgent": "an agent",
    "closed.readOnly": "read only",
  },
  es: {
    "views.label": "Vistas",
    "views.queue": "Fila",
    "views.mine": "Mías",
    "views.all": "Todas",
    "views.closed": "Cerradas",
    "views.counted": "{name} ({n})",
    "views.channel": "Canal",
    "views.anyChannel": "Todos los canales",
    "views.search": "Buscar",
    "views.searchPlaceholder": "Nombre o texto (Esc borra)",
    "views.empty.queue": "No hay nadie esperando.",
    "views.empty.mine": "No tienes chats.",
    "views.empty.all": "No hay conversaciones en Live.",
    "views.empty.closed": "No se cerró ningún chat últimamente.",
    "views.emptyFiltered": "Ninguna conversación de esta vista coincide con el canal o la búsqueda.",
    "badge.closed": "Cerrada",
    "badge.bot": "Con el bot",
    "closed.by": "Cerrada por {name} el {date}",
    "closed.idle": "Cerrada por inactividad el {date} (chat de {name})",
    "closed.unknownAgent": "un agente",
    "closed.readOnly": "solo lectura",
  },
  pt: {
    "views.label": "Visões",
    "views.queue": "Fila",
    "views.mine": "Minhas",
    "views.all": "Todas",
    "views.closed": "Encerradas",
    "views.counted": "{name} ({n})",
    "views.channel": "Canal",
    "views.anyChannel": "Todos os canais",
    "views.search": "Buscar",
    "views.searchPlaceholder": "Nome ou texto (Esc limpa)",
    "views.empty.queue": "Ninguém está aguardando.",
    "views.empty.mine": "Você não tem chats.",
    "views.empty.all": "Nenhuma conversa no Live.",
    "views.empty.closed": "Nenhum chat foi encerrado recentemente.",
    "views.emptyFiltered": "Nenhuma conversa desta visão corresponde ao canal ou à busca.",
    "badge.closed": "Encerrada",
    "badge.bot": "Com o bot",
    "closed.by": "Encerrada por {name} em {date}",
    "closed.idle": "Encerrada por inatividade em {date} (chat de {name})",
    "closed.unknownAgent": "um agente",
    "closed.readOnly": "somente leitura",
  },
});
