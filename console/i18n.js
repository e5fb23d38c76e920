// The agents' language and time zone. Every word an agent sees goes through t("key", {params});
// each module registers its own words in en, es and pt (a unit test checks that the three hold the
// same keys and that every key used exists). Dates and times are shown in the agent's zone.

export const LANGUAGES = { en: "English", es: "Español", pt: "Português" };
const LANGUAGE_KEY = "handoff.console.language"; // "auto" (the browser's) or one of LANGUAGES
const ZONE_KEY = "handoff.console.zone"; // "auto" (the computer's) or an IANA zone
const words = { en: {}, es: {}, pt: {} };
const listeners = [];

export function register(dictionaries) {
  for (const language of Object.keys(words)) Object.assign(words[language], dictionaries[language]);
}

function browserLanguage() {
  for (const tag of navigator.languages || [navigator.language]) {
    const primary = String(tag).toLowerCase().split("-")[0];
    if (primary in words) return primary;
  }
  return "en";
}

export function languageChoice() {
  const chosen = localStorage.getItem(LANGUAGE_KEY);
  return chosen in words ? chosen : "auto";
}

export function language() {
  const chosen = languageChoice();
  return chosen === "auto" ? browserLanguage() : chosen;
}

// The browser's own tag when it is of the chosen language (en-GB dates for an agent in London),
// else the language alone.
export function locale() {
  const tag = navigator.language || "";
  return tag.toLowerCase().split("-")[0] === language() ? tag : language();
}

export function t(key, params = {}) {
  const text = words[language()][key] ?? words.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (found, name) => (name in params ? String(params[name]) : found));
}

export function computerZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

export function zoneChoice() {
  const chosen = localStorage.getItem(ZONE_KEY);
  return chosen && validZone(chosen) ? chosen : "auto";
}

export function zone() {
  const chosen = zoneChoice();
  return chosen === "auto" ? computerZone() : chosen;
}

export function zones() {
  const known = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return known.includes("UTC") ? known : ["UTC", ...known];
}

function validZone(name) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export function choose({ language: chosenLanguage, zone: chosenZone }) {
  if (chosenLanguage !== undefined) localStorage.setItem(LANGUAGE_KEY, chosenLanguage in words ? chosenLanguage : "auto");
  if (chosenZone !== undefined) localStorage.setItem(ZONE_KEY, validZone(chosenZone) ? chosenZone : "auto");
  translatePage();
  for (const listener of listeners) listener();
}

// Called after the agent chose another language or zone: what is on screen is drawn again.
export function onLanguageChange(listener) {
  listeners.push(listener);
}

export function formatTime(iso) {
  const options = { dateStyle: "short", timeStyle: "short", timeZone: zone() };
  return new Intl.DateTimeFormat(locale(), options).format(new Date(iso));
}

export function formatDuration(seconds) {
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return t("duration.underMinute");
  if (minutes < 60) return t("duration.minutes", { m: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return t("duration.hours", { h: hours, m: minutes % 60 });
  return t("duration.days", { d: Math.floor(hours / 24), h: hours % 24 });
}

// The page's own words: data-i18n (text), data-i18n-placeholder, data-i18n-label (aria-label).
export function translatePage() {
  document.documentElement.lang = language();
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  for (const node of document.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
}

register({
  en: {
    "duration.underMinute": "less than a minute",
    "duration.minutes": "{m} min",
    "duration.hours": "{h} h {m} min",
    "duration.days": "{d} d {h} h",
  },
  es: {
    "duration.underMinute": "menos de un minuto",
    "duration.minutes": "{m} min",
    "duration.hours": "{h} h {m} min",
    "duration.days": "{d} d {h} h",
  },
  pt: {
    "duration.underMinute": "menos de um minuto",
    "duration.minutes": "{m} min",
    "duration.hours": "{h} h {m} min",
    "duration.days": "{d} d {h} h",
  },
});
