// The agents' console: sign in, presence, the Live list, a transcript, take / reply / template /
// close / hand over, canned answers, alerts, in the agent's language and time zone. Plain browser JavaScript in
// ES modules, no build step; it talks to the Live API only (docs/live-api.md). This module wires the
// page's controls to the modules that do the work.

import { attempt, showError } from "./api.js";
import {
  canRefresh,
  finishHostedSignIn,
  hostedSignIn,
  isLocalRun,
  loadConfig,
  refreshToken,
  savedToken,
  scheduleRefresh,
  showSignIn,
  signInHosted,
  signInLocally,
  signOut,
  useToken,
} from "./auth.js";
import { cannedKeys, closeSuggestions, insertCanned, offerCanned } from "./canned.js";
import { act, open, sendReply } from "./conversation.js";
import { register, t, translatePage } from "./i18n.js";
import { handOver, ownName } from "./people.js";
import { setPresence } from "./presence.js";
import { setUpPreferences } from "./preferences.js";
import "./push.js"; // live updates: it starts and stops with the session
import { startSession } from "./session.js";
import { $, state } from "./state.js";
import { renderPreview, renderTemplateFields, sendTemplate } from "./templates.js";
import { wireViews } from "./views.js";

function startConsole() {
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("who").textContent = `${ownName(state.claims)} · ${state.claims["custom:tenant_id"] || t("bar.noTenant")}`;
  for (const id of ["who", "presence-label", "sign-out"]) $(id).hidden = false;
  scheduleRefresh();
  startSession();
}

function wire() {
  $("local-sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await signInLocally()) startConsole();
  });
  $("hosted-button").addEventListener("click", () => attempt(signInHosted));
  $("sign-out").addEventListener("click", () => signOut("", true));
  $("presence").addEventListener("change", (event) => setPresence(event.target.checked));
  $("conversations").addEventListener("click", (event) => {
    const button = event.target.closest("button.open");
    if (button) open(button.dataset.id);
  });
  document.addEventListener("handoff:open", (event) => open(event.detail)); // a notification clicked
  $("take").addEventListener("click", () => act("take"));
  $("close").addEventListener("click", () => act("close"));
  $("handover-form").addEventListener("submit", handOver);
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
  setUpPreferences();
  wireViews();
}

async function main() {
  translatePage();
  wire();
  await loadConfig();
  state.local = !hostedSignIn() && (await isLocalRun()); // deployed, config.json names the sign-in
  const params = new URLSearchParams(window.location.search);
  if (params.has("code") && !state.local) {
    await attempt(() => finishHostedSignIn(params));
  } else if (params.has("error")) {
    showError(t("auth.failed", { reason: params.get("error_description") || params.get("error") }));
  }
  const saved = savedToken();
  if (saved && useToken(saved)) startConsole();
  else if (canRefresh() && (await attempt(async () => (await refreshToken(), true)))) startConsole();
  else showSignIn();
}

register({
  en: {
    "bar.noTenant": "no tenant",
    "bar.signOut": "Sign out",
    "signIn.title": "Sign in",
    "signIn.local": "Local run: a token for any tenant and agent.",
    "signIn.tenant": "Tenant",
    "signIn.agent": "Agent",
    "signIn.button": "Sign in",
    "signIn.hosted": "Sign in with your agent account.",
    "signIn.none": "This console has no sign-in configured: deploy a config.json next to it (see docs/console.md).",
    "list.title": "Conversations",
    "list.empty": "No conversation in Live.",
    "actions.take": "Take",
    "actions.reply": "Reply",
    "actions.send": "Send",
    "actions.close": "Close conversation",
  },
  es: {
    "bar.noTenant": "sin cuenta",
    "bar.signOut": "Cerrar sesión",
    "signIn.title": "Iniciar sesión",
    "signIn.local": "Ejecución local: un token para cualquier cuenta y agente.",
    "signIn.tenant": "Cuenta",
    "signIn.agent": "Agente",
    "signIn.button": "Iniciar sesión",
    "signIn.hosted": "Inicia sesión con tu cuenta de agente.",
    "signIn.none": "Esta consola no tiene inicio de sesión configurado: publica un config.json junto a ella (ver docs/console.md).",
    "list.title": "Conversaciones",
    "list.empty": "No hay conversaciones en Live.",
    "actions.take": "Tomar",
    "actions.reply": "Respuesta",
    "actions.send": "Enviar",
    "actions.close": "Cerrar conversación",
  },
  pt: {
    "bar.noTenant": "sem conta",
    "bar.signOut": "Sair",
    "signIn.title": "Entrar",
    "signIn.local": "Execução local: um token para qualquer conta e agente.",
    "signIn.tenant": "Conta",
    "signIn.agent": "Agente",
    "signIn.button": "Entrar",
    "signIn.hosted": "Entre com a sua conta de agente.",
    "signIn.none": "Este console não tem login configurado: publique um config.json ao lado dele (veja docs/console.md).",
    "list.title": "Conversas",
    "list.empty": "Nenhuma conversa no Live.",
    "actions.take": "Assumir",
    "actions.reply": "Resposta",
    "actions.send": "Enviar",
    "actions.close": "Encerrar conversa",
  },
});

main();
