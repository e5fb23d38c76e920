// Canned answers: "/word" in the reply box offers the tenant's answers; the one picked replaces the
// word and stays in the box, editable, until the agent sends it.

import { api, showError } from "./api.js";
import { register } from "./i18n.js";
import { onSessionStart } from "./session.js";
import { $, element } from "./state.js";

const CANNED_WORD = /(^|\s)\/([a-z0-9-]*)$/; // "/hor" just before the caret, at a word's start
const CANNED_SHOWN = 8; // suggestions listed at once
const CANNED_PREVIEW = 60; // characters of an answer's text shown next to its shortcut

let canned = null; // the tenant's canned answers in its language, read once per session
let cannedLoading = null;
let suggestions = []; // the canned answers offered for the "/word" being typed
let suggestion = -1; // the highlighted one
let cannedWord = null; // {start, end}: where that "/word" is in the reply box

async function loadCanned() {
  if (canned) return canned;
  if (!cannedLoading) {
    cannedLoading = api("GET", "/live/canned-answers")
      .then((body) => (canned = body.canned_answers || []))
      .catch((error) => {
        showError(error.message);
        return [];
      })
      .finally(() => (cannedLoading = null)); // a failure is asked again on the next "/"
  }
  return cannedLoading;
}

export function closeSuggestions() {
  const list = $("canned-list");
  list.hidden = true;
  list.replaceChildren();
  suggestions = [];
  suggestion = -1;
  cannedWord = null;
  $("reply-text").removeAttribute("aria-activedescendant");
}

function highlight(index) {
  const options = $("canned-list").children;
  suggestion = (index + options.length) % options.length;
  Array.from(options).forEach((option, n) => option.setAttribute("aria-selected", String(n === suggestion)));
  const active = options[suggestion];
  $("reply-text").setAttribute("aria-activedescendant", active.id);
  active.scrollIntoView({ block: "nearest" });
}

export async function offerCanned() {
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
  suggestions = [...found, ...rest].slice(0, CANNED_SHOWN);
  if (!suggestions.length) {
    closeSuggestions();
    return;
  }
  cannedWord = { start: before.length - word.length - 1, end: before.length };
  const list = $("canned-list");
  list.replaceChildren(
    ...suggestions.map((answer, n) => {
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

export function insertCanned(index) {
  const answer = suggestions[index];
  const where = cannedWord;
  if (!answer || !where) return;
  const box = $("reply-text");
  // the text replaces "/word" and stays in the box, editable, until the agent sends it
  box.setRangeText(answer.text, where.start, where.end, "end");
  closeSuggestions();
  box.focus();
}

// Arrows move the highlight, Enter or Tab insert, Escape closes: true when the key was the list's.
export function cannedKeys(event) {
  if ($("canned-list").hidden) return false;
  switch (event.key) {
    case "ArrowDown":
      highlight(suggestion + 1);
      break;
    case "ArrowUp":
      highlight(suggestion - 1);
      break;
    case "Enter":
    case "Tab":
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return false;
      insertCanned(suggestion);
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

onSessionStart(() => {
  canned = null; // this session's tenant: read again on its first "/"
});

register({
  en: { "canned.label": "Canned answers" },
  es: { "canned.label": "Respuestas rápidas" },
  pt: { "canned.label": "Respostas prontas" },
});
