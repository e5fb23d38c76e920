// Alerts, opt-in: a sound and a desktop notification (the Notification API) when a conversation
// enters the queue or becomes the agent's without their taking it, and when a user who waits, or
// whose chat is the agent's, writes. The tab's title counts the waiting users in any case.

import { formatDuration, register, t } from "./i18n.js";
import { onListChanged } from "./session.js";
import { $, state } from "./state.js";

const SOUND_KEY = "handoff.console.sound";
const NOTIFY_KEY = "handoff.console.notifications";

let audio = null; // created on the agent's click: browsers let a page sound only after a gesture
export const tookThemselves = new Set(); // taken with this console's Take: no alert for those

export function soundOn() {
  return localStorage.getItem(SOUND_KEY) === "on";
}

export function notificationsOn() {
  return localStorage.getItem(NOTIFY_KEY) === "on" && "Notification" in window && Notification.permission === "granted";
}

export function chooseSound(on) {
  localStorage.setItem(SOUND_KEY, on ? "on" : "off");
  if (on) {
    audio = audio || new AudioContext();
    audio.resume();
    chime();
  }
}

// True when notifications are on; the browser asks the agent for permission the first time.
export async function chooseNotifications(on) {
  if (!on) {
    localStorage.setItem(NOTIFY_KEY, "off");
    return false;
  }
  if (!("Notification" in window)) {
    $("preferences-status").textContent = t("alerts.unsupported");
    return false;
  }
  const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
  const granted = permission === "granted";
  localStorage.setItem(NOTIFY_KEY, granted ? "on" : "off");
  $("preferences-status").textContent = granted ? "" : t("alerts.denied");
  return granted;
}

// Two short tones, made here: no sound file to fetch.
function chime() {
  if (!audio) return;
  const start = audio.currentTime;
  [880, 1320].forEach((frequency, n) => {
    const tone = audio.createOscillator();
    const volume = audio.createGain();
    tone.frequency.value = frequency;
    volume.gain.setValueAtTime(0.12, start + n * 0.18);
    volume.gain.exponentialRampToValueAtTime(0.001, start + n * 0.18 + 0.16);
    tone.connect(volume).connect(audio.destination);
    tone.start(start + n * 0.18);
    tone.stop(start + n * 0.18 + 0.17);
  });
}

function isMine(c) {
  return Boolean(c) && c.state === "with_agent" && c.agent_id === state.claims.sub;
}

function name(c) {
  return c.user_name || t("list.unnamed");
}

// What happened between two refreshes that the agent should hear of.
function news(before, now) {
  const previous = new Map(before.map((c) => [c.id, c]));
  const found = [];
  for (const c of now) {
    const was = previous.get(c.id);
    if (c.state === "queued" && (!was || was.state !== "queued")) {
      const text = c.waited_seconds ? t("alerts.queuedSince", { waited: formatDuration(c.waited_seconds) }) : "";
      found.push({ c, title: t("alerts.queued", { name: name(c) }), text });
    } else if (isMine(c) && !isMine(was)) {
      if (!tookThemselves.delete(c.id)) found.push({ c, title: t("alerts.assigned", { name: name(c) }), text: "" });
    } else if (
      was &&
      (c.state === "queued" || isMine(c)) &&
      c.last_user_message_at &&
      c.last_user_message_at !== was.last_user_message_at
    ) {
      const last = state.lastMessages.get(c.id);
      found.push({ c, title: t("alerts.wrote", { name: name(c) }), text: last ? last.text : "" });
    }
  }
  return found;
}

function alert(before, now) {
  if (!before || !state.token) return; // the first list of a session is not news
  const found = news(before, now).filter(
    ({ c }) => document.visibilityState !== "visible" || !document.hasFocus() || c.id !== state.selected,
  );
  if (!found.length) return;
  if (soundOn()) chime();
  if (!notificationsOn()) return;
  for (const { c, title, text } of found) {
    // one notification per conversation: a newer one replaces it (tag)
    const shown = new Notification(title, { body: text, tag: `handoff-${c.id}` });
    shown.onclick = () => {
      window.focus();
      document.dispatchEvent(new CustomEvent("handoff:open", { detail: c.id }));
      shown.close();
    };
  }
}

onListChanged(alert);

// After a reload the sound is still chosen, but a page may play only after a gesture: the first.
for (const gesture of ["pointerdown", "keydown"]) {
  document.addEventListener(gesture, () => soundOn() && !audio && (audio = new AudioContext()), { once: true });
}

register({
  en: {
    "alerts.queued": "{name} is waiting for an agent",
    "alerts.queuedSince": "Waiting {waited}",
    "alerts.assigned": "{name}'s conversation is now yours",
    "alerts.wrote": "{name} wrote",
    "alerts.denied": "The browser does not allow notifications for this page: allow them in its site settings.",
    "alerts.unsupported": "This browser has no desktop notifications.",
  },
  es: {
    "alerts.queued": "{name} espera a un agente",
    "alerts.queuedSince": "Esperando {waited}",
    "alerts.assigned": "La conversación de {name} ahora es tuya",
    "alerts.wrote": "{name} escribió",
    "alerts.denied": "El navegador no permite notificaciones para esta página: actívalas en la configuración del sitio.",
    "alerts.unsupported": "Este navegador no tiene notificaciones de escritorio.",
  },
  pt: {
    "alerts.queued": "{name} está aguardando um agente",
    "alerts.queuedSince": "Aguardando {waited}",
    "alerts.assigned": "A conversa de {name} agora é sua",
    "alerts.wrote": "{name} escreveu",
    "alerts.denied": "O navegador não permite notificações para esta página: ative-as nas configurações do site.",
    "alerts.unsupported": "Este navegador não tem notificações na área de trabalho.",
  },
});
