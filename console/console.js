// The agents' console: sign in, presence, the Live list, a transcript, take / reply / template / close,
// canned answers offered for "/word" in the reply box.
// Plain browser JavaScript, no build step. It talks to the Live API only (docs/live-api.md);
// locally it gets its token from the local run, on AWS from Cognito's Hosted UI (code + PKCE).
"use strict";

const POLL_MS = 2500; // the list; polling is all the Live API offers
const HEARTBEAT_MS = 30000; // presence lapses after 2 minutes without a report
const WINDOW_WARNING_MS = 2 * 3600 * 1000; // warn when the channel's window closes within 2 h
const TOKEN_KEY = "handoff.console.token";
const PKCE_KEY = "handoff.console.pkce";
const REFRESH_KEY = "handoff.console.refresh";
const REFRESH_AHEAD_MS = 5 * 60 * 1000; // renew the ID token 5 minutes before it expires
const SESSION_ENDED = "Your session has ended; sign in again.";
const REFRESH_RETRY_MS = 30 * 1000; // the sign-in service unreachable: try again while the token lasts
const TITLE = document.title;
const AUTHORS = { user: "User", bot: "Bot", agent: "Agent", system: "System" };
const CHANNELS = { whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram" };
const REPLY_PLACEHOLDER = "Write to the user (Ctrl+Enter sends, / for canned answers)";
const CANNED_WORD = /(^|\s)\/([a-z0-9-]*)$/; // "/hor" just before the caret, at a word's start
const CANNED_SHOWN = 8; // suggestions listed at once
const CANNED_PREVIEW = 60; // characters of an answer's text shown next to its shortcut
const PLACEHOLDER = /\{\{\s*(\d+)\s*\}\}/g; // a template body's {{1}}, {{2}}...

const state = {
  config: {}, // config.json: apiUrl, cognitoDomain, clientId, redirectUri (all optional locally)
  local: false,
  token: null,
  claims: {},
  online: false,
  seats: null, // the agent's concurrent chats, as the presence answer gives them
  conversations: [],
  selected: null,
  lastMessages: new Map(), // id -> {stamp, text}: the user's last message, read from the transcript
  pollTimer: null,
  heartbeatTimer: null,
  tokenUntil: 0, // when the ID token expires, by this computer's clock
  refreshTimer: null,
  refreshing: null, // the renewal under way: the timer and a 401 may ask at once
  templates: [], // the tenant's approved templates for agents, read when the picker opens
  picker: null, // {conversation, userName}: the conversation the picker was filled in for
  canned: null, // the tenant's canned answers in its language, read once per session
  cannedLoading: null,
  suggestions: [], // the canned answers offered for the "/word" being typed
  suggestion: -1, // the highlighted one
  cannedWord: null, // {start, end}: where that "/word" is in the reply box
};

const $ = (id) => document.getElementById(id);

// --- the API ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function apiUrl(path) {
  return (state.config.apiUrl || "").replace(/\/+$/, "") + path;
}

async function api(method, path, body, renewed = false) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, `The Live API cannot be reached (${error.message}).`);
  }
  const text = await response.text();
  let payload = null;
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  if (response.status === 401) {
    if (!renewed && canRefresh()) {
      try {
        await refreshToken();
      } catch (error) {
        signOut(error.message);
        throw new ApiError(401, error.message);
      }
      return api(method, path, body, true); // once, with the renewed token
    }
    signOut(SESSION_ENDED);
    throw new ApiError(401, SESSION_ENDED);
  }
  if (!response.ok) {
    throw new ApiError(response.status, describeRefusal(response.status, payload, text));
  }
  return payload;
}

function describeRefusal(status, payload, text) {
  if (payload && typeof payload.message === "string") {
    if (status === 422 && Array.isArray(payload.detail)) {
      const fields = payload.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`);
      return `${payload.message} (${fields.join("; ")})`;
    }
    return payload.message; // 409s are shown as the API words them
  }
  return `The Live API answered ${status}${text ? `: ${text.slice(0, 200)}` : ""}.`;
}

// --- messages to the agent --------------------------------------------------------------------

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function attempt(action) {
  try {
    showError("");
    return await action();
  } catch (error) {
    showError(error.message);
    return undefined;
  }
}

// --- signing in -------------------------------------------------------------------------------

async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) state.config = await response.json();
  } catch {
    state.config = {};
  }
}

async function isLocalRun() {
  try {
    const response = await fetch(apiUrl("/_local/health"), { cache: "no-store" });
    if (!response.ok) return false;
    const body = await response.json();
    return body && body.status === "ok";
  } catch {
    return false;
  }
}

function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return {};
  }
}

// `fresh`: the token was just issued, so its lifetime (exp - iat) counts from now, whatever this
// computer's clock says; a token read back after a reload is judged by the clock.
function useToken(token, fresh = false) {
  const claims = decodeClaims(token);
  if (!fresh && claims.exp && claims.exp * 1000 < Date.now()) return false;
  state.token = token;
  state.claims = claims;
  const lifetime = claims.exp && claims.iat ? (claims.exp - claims.iat) * 1000 : 0;
  state.tokenUntil = fresh && lifetime ? Date.now() + lifetime : (claims.exp || 0) * 1000;
  sessionStorage.setItem(TOKEN_KEY, token);
  return true;
}

async function signInLocally(event) {
  event.preventDefault();
  const tenant = $("tenant").value.trim();
  const agent = $("agent").value.trim();
  await attempt(async () => {
    const response = await fetch(apiUrl("/_local/token"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ tenant_id: tenant, agent_id: agent }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || `The local run answered ${response.status}.`);
    useToken(body.token);
    startConsole();
  });
}

function base64Url(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString() {
  return base64Url(crypto.getRandomValues(new Uint8Array(32)));
}

function hostedSignIn() {
  return Boolean(state.config.cognitoDomain && state.config.clientId);
}

function cognitoUrl(path, params) {
  const base = state.config.cognitoDomain.replace(/\/+$/, "") + path;
  return params ? `${base}?${new URLSearchParams(params)}` : base;
}

function redirectUri() {
  return state.config.redirectUri || window.location.origin + window.location.pathname;
}

async function signInHosted() {
  const verifier = randomString();
  const stateValue = randomString();
  const challenge = base64Url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state: stateValue }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: state.config.clientId,
    redirect_uri: redirectUri(),
    scope: "openid email",
    state: stateValue,
    code_challenge_method: "S256",
    code_challenge: challenge,
  });
  window.location.assign(cognitoUrl("/oauth2/authorize", query));
}

async function finishHostedSignIn(params) {
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "{}");
  sessionStorage.removeItem(PKCE_KEY);
  window.history.replaceState(null, "", window.location.pathname); // the code is single use
  if (!saved.verifier || saved.state !== params.get("state")) {
    throw new Error("The sign-in answer does not match the request made from this tab; sign in again.");
  }
  const response = await fetch(cognitoUrl("/oauth2/token"), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: state.config.clientId,
      code: params.get("code"),
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.id_token) {
    throw new Error(`Sign-in failed: ${body.error_description || body.error || response.status}.`);
  }
  useToken(body.id_token, true); // the HTTP API's JWT authorizer takes the ID token (it carries the tenant)
  if (body.refresh_token) sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
}

// --- staying signed in: the ID token lasts an hour, a shift longer --------------------------------

function canRefresh() {
  return hostedSignIn() && !state.local && Boolean(sessionStorage.getItem(REFRESH_KEY));
}

function scheduleRefresh(delay) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = null;
  if (!canRefresh() || !state.claims.exp) return;
  const wait = delay ?? Math.max(REFRESH_RETRY_MS, state.tokenUntil - Date.now() - REFRESH_AHEAD_MS);
  state.refreshTimer = setTimeout(() => refreshToken().catch((error) => signOut(error.message)), wait);
}

function refreshToken() {
  if (!state.refreshing) state.refreshing = renewToken().finally(() => (state.refreshing = null));
  return state.refreshing;
}

async function renewToken() {
  let response;
  try {
    response = await fetch(cognitoUrl("/oauth2/token"), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        client_id: state.config.clientId,
        refresh_token: sessionStorage.getItem(REFRESH_KEY),
      }),
    });
  } catch {
    if (state.tokenUntil - Date.now() > REFRESH_RETRY_MS) {
      scheduleRefresh(REFRESH_RETRY_MS); // a moment offline: the token still works meanwhile
      return;
    }
    throw new Error("The sign-in service cannot be reached and the session has ended; sign in again.");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.id_token || !useToken(body.id_token, true)) {
    sessionStorage.removeItem(REFRESH_KEY); // revoked or expired (30 days): only a sign-in helps
    throw new Error(SESSION_ENDED);
  }
  if (body.refresh_token) sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
  scheduleRefresh();
}

function showSignIn() {
  $("console").hidden = true;
  $("sign-in").hidden = false;
  const hosted = hostedSignIn();
  $("local-sign-in").hidden = !state.local;
  $("hosted-sign-in").hidden = state.local || !hosted;
  $("no-sign-in").hidden = state.local || hosted;
  for (const id of ["who", "presence-label", "sign-out"]) $(id).hidden = true;
  if (state.local) $("agent").focus();
}

// `everywhere`: also end the hosted sign-in's session, so the next agent at this computer has to
// type a password (an expired token only needs the sign-in button again).
function signOut(message, everywhere = false) {
  stopTimers();
  if (state.online && state.token) {
    // best effort (keepalive outlives a navigation): the presence would lapse on its own in 2 minutes
    fetch(apiUrl("/live/presence"), {
      method: "PUT",
      headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ online: false }),
      keepalive: true,
    }).catch(() => {});
  }
  const refresh = sessionStorage.getItem(REFRESH_KEY);
  if (everywhere && refresh && hostedSignIn() && !state.local) {
    // the refresh token would outlive the sign-out for 30 days: revoke it (keepalive outlives the page)
    fetch(cognitoUrl("/oauth2/revoke"), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: refresh, client_id: state.config.clientId }),
      keepalive: true,
    }).catch(() => {});
  }
  clearTimeout(state.refreshTimer);
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(REFRESH_KEY);
  Object.assign(state, {
    token: null,
    claims: {},
    tokenUntil: 0,
    refreshTimer: null,
    online: false,
    seats: null,
    selected: null,
    conversations: [],
    templates: [],
    picker: null,
  });
  state.lastMessages.clear();
  document.title = TITLE;
  $("presence").checked = false;
  setPresenceText();
  showSignIn();
  showError(message || "");
  if (everywhere && hostedSignIn() && !state.local) {
    const logout = { client_id: state.config.clientId, logout_uri: redirectUri() };
    window.location.assign(cognitoUrl("/logout", logout));
  }
}

// --- presence ---------------------------------------------------------------------------------

function setPresenceText() {
  $("presence-text").textContent = state.online ? "Online" : "Offline";
  $("presence-label").classList.toggle("on", state.online);
  renderCapacity();
}

// How many of the agent's seats their chats take; the seats come with the presence answer.
function renderCapacity() {
  const mine = (c) => c.state === "with_agent" && c.agent_id === state.claims.sub;
  const chats = state.conversations.filter(mine);
  $("capacity").hidden = !(state.online && state.seats);
  $("capacity").textContent = `Chats ${chats.length} of ${state.seats}`;
  $("capacity").classList.toggle("full", chats.length >= state.seats);
}

async function setPresence(online) {
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
  clearInterval(state.heartbeatTimer);
  state.heartbeatTimer = online
    ? setInterval(() => attempt(() => api("PUT", "/live/presence", { online: true })), HEARTBEAT_MS)
    : null;
}

// --- the list ---------------------------------------------------------------------------------

function formatDuration(seconds) {
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return "less than a minute";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

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
  if (left <= 0) return "Window closed";
  if (left <= WINDOW_WARNING_MS) return `Window closes in ${formatDuration(left / 1000)}`;
  return null;
}

function ordered(conversations) {
  // the queue first, the longest waiting first; then those with an agent
  const queued = (c) => (c.state === "queued" ? 0 : 1);
  const since = (c) => (c.queued_at ? Date.parse(c.queued_at) : Infinity);
  return [...conversations].sort((a, b) => queued(a) - queued(b) || since(a) - since(b));
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function renderList() {
  const list = $("conversations");
  const focusedId = document.activeElement && document.activeElement.dataset.id;
  const now = serverNow(state.conversations);
  list.replaceChildren();
  for (const c of state.conversations) {
    const item = element("li", "conversation");
    item.dataset.id = c.id;
    item.dataset.state = c.state;
    const button = element("button", "open");
    button.type = "button";
    button.dataset.id = c.id;
    if (c.id === state.selected) button.setAttribute("aria-current", "true");
    const top = element("span", "line");
    top.append(element("span", `channel ${c.channel}`, CHANNELS[c.channel] || c.channel));
    top.append(element("span", "name", c.user_name || "Unnamed user"));
    if (c.state !== "queued" && c.agent_id) {
      const mine = c.agent_id === state.claims.sub;
      top.append(element("span", `badge ${mine ? "mine" : "taken"}`, mine ? "Yours" : `With ${c.agent_id}`));
    } else if (c.on_hold) top.append(element("span", "badge hold", "On hold"));
    else top.append(element("span", "badge queued", "Waiting"));
    button.append(top);
    const last = state.lastMessages.get(c.id);
    button.append(element("span", "last", last ? last.text : "…"));
    const bottom = element("span", "line small");
    if (c.state === "queued" && c.waited_seconds !== null) {
      bottom.append(element("span", "waited", `Waiting ${formatDuration(c.waited_seconds)}`));
    }
    const warning = windowWarning(c, now);
    if (warning) bottom.append(element("span", "warning", warning));
    button.append(bottom);
    if (c.notice) button.append(element("span", "notice", c.notice));
    item.append(button);
    list.append(item);
    if (focusedId === c.id) button.focus();
  }
  $("count").textContent = `(${state.conversations.length})`;
  $("empty").hidden = state.conversations.length > 0;
  renderCapacity();
  // a console in a background tab still says how many users wait, in the tab's title
  const waiting = state.conversations.filter((c) => c.state === "queued").length;
  document.title = waiting ? `(${waiting}) ${TITLE}` : TITLE;
}

function lastUserText(transcript) {
  for (let i = transcript.length - 1; i >= 0; i -= 1) {
    const entry = transcript[i];
    if (entry.author === "user") return entry.text || `[${entry.kind}]`;
  }
  return "";
}

async function refreshLastMessages() {
  // the summary has no text: read a transcript only when the user wrote since it was last read
  const stale = state.conversations.filter((c) => {
    const known = state.lastMessages.get(c.id);
    return !known || known.stamp !== c.last_user_message_at;
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

async function refreshList() {
  const body = await api("GET", "/live/conversations");
  state.conversations = ordered(body.conversations);
  await refreshLastMessages();
  renderList();
}

async function poll() {
  if (!state.token) return;
  try {
    await refreshList();
    if (state.selected) await renderConversation();
  } catch (error) {
    if (error.status !== 401) showError(error.message);
  } finally {
    if (state.token) state.pollTimer = setTimeout(poll, POLL_MS);
  }
}

// --- one conversation -------------------------------------------------------------------------

function formatTime(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

async function renderConversation() {
  const id = state.selected;
  let detail;
  try {
    detail = await api("GET", `/live/conversations/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error.status === 404) {
      state.selected = null;
      $("pane-title").textContent = "Choose a conversation";
      $("pane-meta").textContent = "";
      $("transcript").replaceChildren();
      $("actions").hidden = true;
      state.picker = null;
    }
    throw error;
  }
  if (id !== state.selected) return; // another one was opened meanwhile
  $("pane-title").textContent = `${detail.user_name || "Unnamed user"} · ${CHANNELS[detail.channel] || detail.channel}`;
  const mine = detail.agent_id === state.claims.sub && detail.state !== "queued";
  const meta = [
    detail.state !== "queued" && detail.agent_id
      ? mine ? "Yours" : `With ${detail.agent_id}`
      : detail.on_hold ? "On hold" : "Waiting",
  ];
  if (detail.notified_available) meta.push("told an agent is available");
  if (detail.notice) meta.push(detail.notice);
  $("pane-meta").textContent = meta.join(" · ");

  const transcript = $("transcript");
  const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  transcript.replaceChildren();
  for (const entry of detail.transcript) {
    const line = element("li", `entry author-${entry.author}`);
    const head = element("span", "head");
    head.append(element("span", "author", AUTHORS[entry.author] || entry.author));
    if (entry.kind !== "text") head.append(element("span", "kind", entry.kind));
    const time = element("time", "at", formatTime(entry.at));
    time.dateTime = entry.at;
    head.append(time);
    line.append(head);
    line.append(element("p", "text", entry.text || `[${entry.kind}]`));
    if (entry.undelivered) {
      line.classList.add("undelivered");
      line.append(element("p", "undelivered-reason", entry.undelivered));
    }
    transcript.append(line);
  }
  if (atBottom) transcript.scrollTop = transcript.scrollHeight;

  $("actions").hidden = false;
  $("take").hidden = detail.state !== "queued";
  $("close").hidden = !(mine || detail.state === "queued");
  await renderComposer(detail, mine);
}

// --- what the channel lets the agent send: said before they type ---------------------------------

// The Live API says what may reach the user now (`agent_may_send`, by the server's clock, as the
// engine decides): free text, only an approved template (WhatsApp past 24 hours), or nothing
// (Messenger and Instagram past 7 days). A template does not reopen the window: the user's answer does.
function windowNotice(detail) {
  const until = detail.reply_window_closes_at ? formatTime(detail.reply_window_closes_at) : null;
  switch (detail.agent_may_send) {
    case "text":
      if (!until) return null;
      return detail.channel === "whatsapp"
        ? { closed: false, text: `You can reply until ${until}. After that, WhatsApp takes only an approved template until the user writes again.` }
        : { closed: false, text: `You can reply until ${until} (7 days after the user's last message). After that, nobody can write until the user writes again.` };
    case "template":
      return { closed: true, text: "The 24-hour window is closed: send an approved template. Free text works again once the user answers." };
    case "nothing":
      return { closed: true, text: "The 7-day window is closed: nobody can write until the user writes again." };
    default:
      return null;
  }
}

async function renderComposer(detail, mine) {
  const notice = mine || detail.state === "queued" ? windowNotice(detail) : null;
  const box = $("window-notice");
  box.hidden = !notice;
  // a status region: rewritten only when it changes, so a screen reader says it once
  if (notice && box.textContent !== notice.text) box.textContent = notice.text;
  box.classList.toggle("closed", Boolean(notice && notice.closed));

  const freeText = detail.agent_may_send === "text";
  $("reply-form").hidden = !mine;
  $("reply-text").disabled = !freeText; // a draft typed earlier stays, for when the user answers
  $("send").disabled = !freeText;
  $("reply-text").placeholder = freeText ? REPLY_PLACEHOLDER : "Free text cannot reach the user now (see above)";

  const picking = mine && detail.agent_may_send === "template";
  $("template-form").hidden = !picking;
  if (!picking) {
    state.picker = null;
    return;
  }
  if (state.picker && state.picker.conversation === detail.id) return; // keep what is being filled in
  state.picker = { conversation: detail.id, userName: detail.user_name || "" };
  try {
    state.templates = (await api("GET", "/live/templates")).templates || [];
  } catch (error) {
    showError(error.message);
    state.picker = null; // the next poll asks again
    return;
  }
  if (!state.picker || state.picker.conversation !== detail.id) return; // closed or left meanwhile
  renderTemplateChoice();
}

// --- the approved-template picker ----------------------------------------------------------------

function renderTemplateChoice() {
  const templates = state.templates;
  $("no-templates").hidden = templates.length > 0;
  $("template-picker").hidden = templates.length === 0;
  const titles = templates.map((t) => t.title);
  const options = templates.map((template, index) => {
    const twice = titles.indexOf(template.title) !== titles.lastIndexOf(template.title);
    const option = element("option", null, twice ? `${template.title} (${template.language})` : template.title);
    option.value = String(index);
    return option;
  });
  $("template-choice").replaceChildren(...options);
  renderTemplateFields();
}

function chosenTemplate() {
  return state.templates[Number($("template-choice").value)] || null;
}

// One labelled field per parameter of the chosen template; the first is offered the user's name.
function renderTemplateFields() {
  const template = chosenTemplate();
  const fields = $("template-fields");
  const labels = template ? template.parameters : [];
  fields.replaceChildren(fields.querySelector("legend"));
  fields.hidden = labels.length === 0;
  labels.forEach((label, index) => {
    const id = `template-parameter-${index + 1}`;
    const field = element("div", "template-field");
    const caption = element("label", null, label);
    caption.htmlFor = id;
    caption.append(element("span", "placeholder", ` {{${index + 1}}}`));
    const input = element("input");
    Object.assign(input, { id, type: "text", required: true, maxLength: 1024, autocomplete: "off" });
    if (index === 0 && state.picker && state.picker.userName) input.value = state.picker.userName;
    field.append(caption, input);
    fields.append(field);
  });
  renderPreview();
}

function parameterValues() {
  return [...$("template-fields").querySelectorAll("input")].map((input) => input.value.trim());
}

// What the user will receive: the approved body filled in (an empty field shows its label), as the
// transcript will show it; without the body, the title and the values.
function templatePreview(template, values) {
  const shown = values.map((value, i) => value || `[${template.parameters[i]}]`);
  if (template.text) return template.text.replace(PLACEHOLDER, (found, n) => shown[Number(n) - 1] ?? found);
  return shown.length ? `Template ${template.title}: ${shown.join(", ")}` : `Template ${template.title}`;
}

function renderPreview() {
  const template = chosenTemplate();
  $("template-preview").textContent = template ? templatePreview(template, parameterValues()) : "";
}

async function sendTemplate(event) {
  event.preventDefault();
  const template = chosenTemplate();
  if (!template) return;
  const parameters = parameterValues();
  const empty = parameters.findIndex((value) => !value);
  if (empty >= 0) {
    showError(`Fill in ${template.parameters[empty]} before sending.`);
    $(`template-parameter-${empty + 1}`).focus();
    return;
  }
  $("template-send").disabled = true;
  try {
    const body = { name: template.name, language: template.language, parameters };
    if (await act("template", body)) {
      renderTemplateFields(); // sent: ready for another, the name offered again
      if (!$("template-form").hidden) $("template-choice").focus(); // the sent field is gone: keep focus here
    }
  } finally {
    $("template-send").disabled = false;
  }
}

async function open(id) {
  state.selected = id;
  renderList();
  await attempt(renderConversation);
}

async function act(action, body) {
  const id = state.selected;
  if (!id) return false;
  const done = await attempt(async () => {
    await api("POST", `/live/conversations/${encodeURIComponent(id)}/${action}`, body);
    return true;
  });
  try {
    await renderConversation();
    await refreshList();
  } catch (error) {
    if (done) showError(error.message); // else keep the refusal on screen
  }
  return Boolean(done);
}

async function sendReply(event) {
  event.preventDefault();
  const box = $("reply-text");
  const text = box.value.trim();
  if (!text) {
    showError("Write something before sending.");
    return;
  }
  // clear only what was sent: the agent may have started the next message meanwhile
  if ((await act("reply", { text })) && box.value.trim() === text) box.value = "";
}

// --- canned answers: "/word" in the reply box ---------------------------------------------------

async function loadCanned() {
  if (state.canned) return state.canned;
  if (!state.cannedLoading) {
    state.cannedLoading = api("GET", "/live/canned-answers")
      .then((body) => (state.canned = body.canned_answers || []))
      .catch((error) => {
        showError(error.message);
        return [];
      })
      .finally(() => (state.cannedLoading = null)); // a failure is asked again on the next "/"
  }
  return state.cannedLoading;
}

function closeSuggestions() {
  const list = $("canned-list");
  list.hidden = true;
  list.replaceChildren();
  state.suggestions = [];
  state.suggestion = -1;
  state.cannedWord = null;
  $("reply-text").removeAttribute("aria-activedescendant");
}

function highlight(index) {
  const options = $("canned-list").children;
  state.suggestion = (index + options.length) % options.length;
  Array.from(options).forEach((option, n) => option.setAttribute("aria-selected", String(n === state.suggestion)));
  const active = options[state.suggestion];
  $("reply-text").setAttribute("aria-activedescendant", active.id);
  active.scrollIntoView({ block: "nearest" });
}

async function offerCanned() {
  const box = $("reply-text");
  const before = box.value.slice(0, box.selectionStart);
  const match = box.selectionStart === box.selectionEnd ? CANNED_WORD.exec(before) : null;
  if (!match) {
    closeSuggestions();
    return;
  }
  const answers = await loadCanned();
  if (box.value.slice(0, box.selectionStart) !== before) return; // typed on meanwhile: that input offers
  const word = match[2];
  const found = answers.filter((a) => a.shortcut.startsWith(word));
  const rest = word ? answers.filter((a) => !a.shortcut.startsWith(word) && a.shortcut.includes(word)) : [];
  state.suggestions = [...found, ...rest].slice(0, CANNED_SHOWN);
  if (!state.suggestions.length) {
    closeSuggestions();
    return;
  }
  state.cannedWord = { start: before.length - word.length - 1, end: before.length };
  const list = $("canned-list");
  list.replaceChildren(
    ...state.suggestions.map((answer, n) => {
      const option = element("li", "");
      option.id = `canned-${n}`;
      option.setAttribute("role", "option");
      option.dataset.index = String(n);
      const text = answer.text.length > CANNED_PREVIEW ? `${answer.text.slice(0, CANNED_PREVIEW)}…` : answer.text;
      option.append(element("span", "shortcut", `/${answer.shortcut}`), element("span", "text", text));
      return option;
    }),
  );
  list.hidden = false;
  highlight(0);
}

function insertCanned(index) {
  const answer = state.suggestions[index];
  const where = state.cannedWord;
  if (!answer || !where) return;
  const box = $("reply-text");
  // the text replaces "/word" and stays in the box, editable, until the agent sends it
  box.setRangeText(answer.text, where.start, where.end, "end");
  closeSuggestions();
  box.focus();
}

function cannedKeys(event) {
  if ($("canned-list").hidden) return false;
  switch (event.key) {
    case "ArrowDown":
      highlight(state.suggestion + 1);
      break;
    case "ArrowUp":
      highlight(state.suggestion - 1);
      break;
    case "Enter":
    case "Tab":
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return false;
      insertCanned(state.suggestion);
      break;
    case "Escape":
      closeSuggestions();
      break;
    default:
      return false;
  }
  event.preventDefault();
  return true;
}

// --- start ------------------------------------------------------------------------------------

function stopTimers() {
  clearTimeout(state.pollTimer);
  clearInterval(state.heartbeatTimer);
  state.pollTimer = null;
  state.heartbeatTimer = null;
}

function startConsole() {
  $("sign-in").hidden = true;
  $("console").hidden = false;
  const who = state.claims.email || state.claims["cognito:username"] || state.claims.sub;
  $("who").textContent = `${who} · ${state.claims["custom:tenant_id"] || "no tenant"}`;
  for (const id of ["who", "presence-label", "sign-out"]) $(id).hidden = false;
  stopTimers();
  scheduleRefresh();
  state.canned = null; // this session's tenant: read again on its first "/"
  poll();
}

async function main() {
  $("local-sign-in").addEventListener("submit", signInLocally);
  $("hosted-button").addEventListener("click", () => attempt(signInHosted));
  $("sign-out").addEventListener("click", () => signOut("", true));
  $("presence").addEventListener("change", (event) => setPresence(event.target.checked));
  $("conversations").addEventListener("click", (event) => {
    const button = event.target.closest("button.open");
    if (button) open(button.dataset.id);
  });
  $("take").addEventListener("click", () => act("take"));
  $("close").addEventListener("click", () => act("close"));
  $("reply-form").addEventListener("submit", sendReply);
  $("template-form").addEventListener("submit", sendTemplate);
  $("template-choice").addEventListener("change", renderTemplateFields);
  $("template-fields").addEventListener("input", renderPreview);
  $("reply-text").addEventListener("keydown", (event) => {
    if (cannedKeys(event)) return; // the suggestions open: arrows, Enter/Tab insert, Escape closes
    // Ctrl+Enter (Cmd+Enter on a Mac) sends; Enter alone is a new line
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("reply-form").requestSubmit();
  });
  $("reply-text").addEventListener("input", offerCanned);
  $("reply-text").addEventListener("blur", () => setTimeout(closeSuggestions, 150));
  $("canned-list").addEventListener("mousedown", (event) => {
    const option = event.target.closest("li[role=option]");
    if (!option) return;
    event.preventDefault(); // the box keeps the focus
    insertCanned(Number(option.dataset.index));
  });

  await loadConfig();
  state.local = !hostedSignIn() && (await isLocalRun()); // deployed, config.json names the sign-in
  const params = new URLSearchParams(window.location.search);
  if (params.has("code") && !state.local) {
    await attempt(() => finishHostedSignIn(params));
  } else if (params.has("error")) {
    showError(`Sign-in failed: ${params.get("error_description") || params.get("error")}.`);
  }
  const saved = state.token || sessionStorage.getItem(TOKEN_KEY);
  if (saved && useToken(saved)) startConsole();
  else if (canRefresh() && (await attempt(async () => (await refreshToken(), true)))) startConsole();
  else showSignIn();
}

main();
