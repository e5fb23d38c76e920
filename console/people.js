// People, not ids: agents are shown by their display name (the token's `name`, as the Live API
// keeps it), never by their id; and the handover of a conversation that is yours to another online
// agent, or back to the queue where it keeps its place (docs/console.md).

import { api, showError } from "./api.js";
import { act } from "./conversation.js";
import { onLanguageChange, register, t } from "./i18n.js";
import { onSessionEnd } from "./session.js";
import { $, element, state } from "./state.js";

const AGENTS_MAX_AGE_MS = 10000; // the online agents, read again at most this often while a chat is open
const BACK_TO_QUEUE = ""; // the select's value for "back to the queue" (the API's `to: null`)

let agents = []; // the tenant's online agents, as GET /live/agents last gave them
let agentsReadAt = 0;
let shownFor = null; // the conversation the control was last drawn for

// The signed-in agent's own name, as the server reads it from the same token: `name`, else
// `email`, else the username unless it is the id itself.
export function ownName(claims) {
  const username = claims["cognito:username"];
  return claims.name || claims.email || (username && username !== claims.sub ? username : t("people.you"));
}

// Who has a conversation, in words.
export function agentName(conversation) {
  return conversation.agent_name || t("people.anotherAgent");
}

// The head of a transcript line: an agent's line says which agent wrote it.
export function authorLabel(entry) {
  if (entry.author === "agent" && entry.agent_name) return entry.agent_name;
  return t(`author.${entry.author}`);
}

function others() {
  return agents.filter((agent) => agent.agent_id !== state.claims.sub);
}

function renderChoices() {
  const select = $("handover-to");
  const kept = select.value;
  const options = others().map((agent) => {
    const full = agent.chats >= agent.seats;
    const words = full ? "people.agentFull" : "people.agentChats";
    const option = element("option", null, t(words, { name: agent.name, chats: agent.chats, seats: agent.seats }));
    option.value = agent.agent_id;
    option.disabled = full; // the API would refuse: no free seat
    return option;
  });
  const queue = element("option", null, t("people.backToQueue"));
  queue.value = BACK_TO_QUEUE;
  select.replaceChildren(...options, queue);
  const still = [...select.options].some((option) => option.value === kept && !option.disabled);
  select.value = still ? kept : BACK_TO_QUEUE;
  $("handover-none").hidden = options.length > 0;
}

async function readAgents(force = false) {
  if (!force && Date.now() - agentsReadAt < AGENTS_MAX_AGE_MS) return;
  agentsReadAt = Date.now();
  let read;
  try {
    read = (await api("GET", "/live/agents")).agents || [];
  } catch (error) {
    showError(error.message);
    return;
  }
  const changed = JSON.stringify(read) !== JSON.stringify(agents);
  agents = read;
  // drawn again only when someone came, went or took a chat: an open list is not shut under the agent
  if (force || changed) renderChoices();
}

// The "Hand over" control, for a conversation that is yours; called each time the pane is drawn.
export async function renderHandover(detail, mine) {
  const yours = mine && detail.state === "with_agent";
  $("handover-form").hidden = !yours;
  if (!yours) {
    shownFor = null;
    return;
  }
  const fresh = shownFor !== detail.id;
  shownFor = detail.id;
  await readAgents(fresh);
}

export async function handOver(event) {
  event.preventDefault();
  const value = $("handover-to").value;
  if (await act("handover", { to: value === BACK_TO_QUEUE ? null : value })) {
    agentsReadAt = 0; // the receiver has one more chat now
  }
}

onSessionEnd(() => {
  agents = [];
  agentsReadAt = 0;
  shownFor = null;
});

onLanguageChange(() => {
  if (state.token) renderChoices();
});

register({
  en: {
    "people.you": "you",
    "people.anotherAgent": "another agent",
    "people.handOver": "Hand over",
    "people.handOverTo": "Hand over to",
    "people.backToQueue": "Back to the queue (keeps its place)",
    "people.agentChats": "{name} ({chats} of {seats} chats)",
    "people.agentFull": "{name} (full: {chats} of {seats} chats)",
    "people.none": "No other agent is online: you can put the conversation back in the queue.",
    "people.signInName": "Name (optional)",
  },
  es: {
    "people.you": "tú",
    "people.anotherAgent": "otro agente",
    "people.handOver": "Transferir",
    "people.handOverTo": "Transferir a",
    "people.backToQueue": "De vuelta a la cola (conserva su lugar)",
    "people.agentChats": "{name} ({chats} de {seats} chats)",
    "people.agentFull": "{name} (lleno: {chats} de {seats} chats)",
    "people.none": "No hay otro agente en línea: puedes devolver la conversación a la cola.",
    "people.signInName": "Nombre (opcional)",
  },
  pt: {
    "people.you": "você",
    "people.anotherAgent": "outro agente",
    "people.handOver": "Transferir",
    "people.handOverTo": "Transferir para",
    "people.backToQueue": "De volta à fila (mantém o seu lugar)",
    "people.agentChats": "{name} ({chats} de {seats} chats)",
    "people.agentFull": "{name} (cheio: {chats} de {seats} chats)",
    "people.none": "Nenhum outro agente está online: você pode devolver a conversa à fila.",
    "people.signInName": "Nome (opcional)",
  },
});
