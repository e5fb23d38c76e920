// The Live API (docs/live-api.md): every request carries the ID token; a 401 renews it once and
// asks again; a refusal becomes an error worded as the API words it.

import { canRefresh, refreshToken, sessionEnded, signOut } from "./auth.js";
import { register, t } from "./i18n.js";
import { $, state } from "./state.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function apiUrl(path) {
  return (state.config.apiUrl || "").replace(/\/+$/, "") + path;
}

export async function api(method, path, body, renewed = false) {
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
    throw new ApiError(0, t("api.unreachable", { reason: error.message }));
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
    signOut(sessionEnded());
    throw new ApiError(401, sessionEnded());
  }
  if (!response.ok) {
    throw new ApiError(response.status, describeRefusal(response.status, payload, text));
  }
  return payload;
}

// A GET the API may answer 304 (the conversation list): `etag` is the tag of the answer the console
// holds. {unchanged: true} when it still holds; else the new answer and its tag. Anything but a
// 200 or a 304 is asked again through api(), which renews the token or words the refusal.
export async function apiIfChanged(path, etag) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (etag) headers["If-None-Match"] = etag;
  let response;
  try {
    // no-store: the browser's cache neither answers nor adds its own If-None-Match; the 304 is ours
    response = await fetch(apiUrl(path), { headers, cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, t("api.unreachable", { reason: error.message }));
  }
  if (response.status === 304) return { unchanged: true };
  if (response.status !== 200) return { body: await api("GET", path), etag: null };
  return { body: await response.json(), etag: response.headers.get("ETag") };
}

// The API's own words (its `message`, and for a 422 the fields and why): they are the server's,
// in English, whatever the console's language.
function describeRefusal(status, payload, text) {
  if (payload && typeof payload.message === "string") {
    if (status === 422 && Array.isArray(payload.detail)) {
      const fields = payload.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`);
      return `${payload.message} (${fields.join("; ")})`;
    }
    return payload.message; // 409s are shown as the API words them
  }
  return t("api.answered", { status, text: text ? `: ${text.slice(0, 200)}` : "" });
}

// --- messages to the agent ----------------------------------------------------------------------

export function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

export async function attempt(action) {
  try {
    showError("");
    return await action();
  } catch (error) {
    showError(error.message);
    return undefined;
  }
}

register({
  en: {
    "api.unreachable": "The Live API cannot be reached ({reason}).",
    "api.answered": "The Live API answered {status}{text}.",
  },
  es: {
    "api.unreachable": "No se puede contactar la API de Live ({reason}).",
    "api.answered": "La API de Live respondió {status}{text}.",
  },
  pt: {
    "api.unreachable": "Não é possível contactar a API do Live ({reason}).",
    "api.answered": "A API do Live respondeu {status}{text}.",
  },
});
