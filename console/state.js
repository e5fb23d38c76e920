// What the console knows while it runs, and two small DOM helpers every module uses.

export const state = {
  config: {}, // config.json: apiUrl, cognitoDomain, clientId, redirectUri (all optional locally)
  local: false,
  token: null,
  claims: {},
  online: false,
  seats: null, // the agent's concurrent chats, as the presence answer gives them
  conversations: [],
  total: null, // how many conversations Live has: the list answers the first 100
  counts: null, // {queue, mine, all}: the Live API's counts over the whole of Live
  shown: null, // the chosen view's conversations (views.js); null: all of Live, `conversations`
  selected: null,
  lastMessages: new Map(), // id -> {stamp, text}: the user's last message, read from the transcript
  tokenUntil: 0, // when the ID token expires, by this computer's clock
};

export const $ = (id) => document.getElementById(id);

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
