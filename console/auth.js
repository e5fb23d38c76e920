// Signing in and staying signed in. Locally the token comes from the local run; on AWS from
// Cognito's hosted page (authorization code + PKCE, no client secret). The ID token lasts an hour,
// a shift longer: it is renewed with the refresh token before it expires.

import { apiUrl, attempt, showError } from "./api.js";
import { register, t } from "./i18n.js";
import { endSession } from "./session.js";
import { $, state } from "./state.js";

const TOKEN_KEY = "handoff.console.token";
const PKCE_KEY = "handoff.console.pkce";
const REFRESH_KEY = "handoff.console.refresh";
const REFRESH_AHEAD_MS = 5 * 60 * 1000; // renew the ID token 5 minutes before it expires
const REFRESH_RETRY_MS = 30 * 1000; // the sign-in service unreachable: try again while the token lasts

let refreshTimer = null;
let refreshing = null; // the renewal under way: the timer and a 401 may ask at once

export const sessionEnded = () => t("auth.sessionEnded");

export async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) state.config = await response.json();
  } catch {
    state.config = {};
  }
}

export async function isLocalRun() {
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
export function useToken(token, fresh = false) {
  const claims = decodeClaims(token);
  if (!fresh && claims.exp && claims.exp * 1000 < Date.now()) return false;
  state.token = token;
  state.claims = claims;
  const lifetime = claims.exp && claims.iat ? (claims.exp - claims.iat) * 1000 : 0;
  state.tokenUntil = fresh && lifetime ? Date.now() + lifetime : (claims.exp || 0) * 1000;
  sessionStorage.setItem(TOKEN_KEY, token);
  return true;
}

export function savedToken() {
  return state.token || sessionStorage.getItem(TOKEN_KEY);
}

// The local run's sign-in: a token for any tenant and agent. True once signed in.
export async function signInLocally() {
  const tenant = $("tenant").value.trim();
  const agent = $("agent").value.trim();
  const name = $("agent-name").value.trim(); // the display name; without it the token names the agent id
  return attempt(async () => {
    const response = await fetch(apiUrl("/_local/token"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ tenant_id: tenant, agent_id: agent, ...(name ? { name } : {}) }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || t("auth.localRefused", { status: response.status }));
    useToken(body.token);
    return true;
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

export function hostedSignIn() {
  return Boolean(state.config.cognitoDomain && state.config.clientId);
}

function cognitoUrl(path, params) {
  const base = state.config.cognitoDomain.replace(/\/+$/, "") + path;
  return params ? `${base}?${new URLSearchParams(params)}` : base;
}

function redirectUri() {
  return state.config.redirectUri || window.location.origin + window.location.pathname;
}

export async function signInHosted() {
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

export async function finishHostedSignIn(params) {
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "{}");
  sessionStorage.removeItem(PKCE_KEY);
  window.history.replaceState(null, "", window.location.pathname); // the code is single use
  if (!saved.verifier || saved.state !== params.get("state")) {
    throw new Error(t("auth.foreignAnswer"));
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
    throw new Error(t("auth.failed", { reason: body.error_description || body.error || response.status }));
  }
  useToken(body.id_token, true); // the HTTP API's JWT authorizer takes the ID token (it carries the tenant)
  if (body.refresh_token) sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
}

// --- staying signed in: the ID token lasts an hour, a shift longer --------------------------------

export function canRefresh() {
  return hostedSignIn() && !state.local && Boolean(sessionStorage.getItem(REFRESH_KEY));
}

export function scheduleRefresh(delay) {
  clearTimeout(refreshTimer);
  refreshTimer = null;
  if (!canRefresh() || !state.claims.exp) return;
  const wait = delay ?? Math.max(REFRESH_RETRY_MS, state.tokenUntil - Date.now() - REFRESH_AHEAD_MS);
  refreshTimer = setTimeout(() => refreshToken().catch((error) => signOut(error.message)), wait);
}

export function refreshToken() {
  if (!refreshing) refreshing = renewToken().finally(() => (refreshing = null));
  return refreshing;
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
    throw new Error(t("auth.unreachable"));
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.id_token || !useToken(body.id_token, true)) {
    sessionStorage.removeItem(REFRESH_KEY); // revoked or expired (30 days): only a sign-in helps
    throw new Error(sessionEnded());
  }
  if (body.refresh_token) sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
  scheduleRefresh();
}

export function showSignIn() {
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
export function signOut(message, everywhere = false) {
  if (state.online && state.token) {
    // best effort (keepalive outlives a navigation): the presence would lapse on its own in 2 minutes
    fetch(apiUrl("/live/presence"), {
      method: "PUT",
      headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ online: false }),
      keepalive: true,
    }).catch(() => {});
  }
  endSession();
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
  clearTimeout(refreshTimer);
  refreshTimer = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(REFRESH_KEY);
  Object.assign(state, { token: null, claims: {}, tokenUntil: 0, online: false, seats: null, selected: null, conversations: [] });
  state.lastMessages.clear();
  showSignIn();
  showError(message || "");
  if (everywhere && hostedSignIn() && !state.local) {
    const logout = { client_id: state.config.clientId, logout_uri: redirectUri() };
    window.location.assign(cognitoUrl("/logout", logout));
  }
}

register({
  en: {
    "auth.sessionEnded": "Your session has ended; sign in again.",
    "auth.localRefused": "The local run answered {status}.",
    "auth.foreignAnswer": "The sign-in answer does not match the request made from this tab; sign in again.",
    "auth.failed": "Sign-in failed: {reason}.",
    "auth.unreachable": "The sign-in service cannot be reached and the session has ended; sign in again.",
  },
  es: {
    "auth.sessionEnded": "Tu sesión terminó; vuelve a iniciar sesión.",
    "auth.localRefused": "La ejecución local respondió {status}.",
    "auth.foreignAnswer": "La respuesta del inicio de sesión no corresponde a lo pedido desde esta pestaña; vuelve a iniciar sesión.",
    "auth.failed": "El inicio de sesión falló: {reason}.",
    "auth.unreachable": "No se puede contactar el servicio de inicio de sesión y la sesión terminó; vuelve a iniciar sesión.",
  },
  pt: {
    "auth.sessionEnded": "A sua sessão terminou; entre novamente.",
    "auth.localRefused": "A execução local respondeu {status}.",
    "auth.foreignAnswer": "A resposta do login não corresponde ao pedido feito nesta aba; entre novamente.",
    "auth.failed": "O login falhou: {reason}.",
    "auth.unreachable": "Não é possível contactar o serviço de login e a sessão terminou; entre novamente.",
  },
});
