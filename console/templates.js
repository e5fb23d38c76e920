// The approved-template picker: WhatsApp past 24 hours, a chat that is yours. The polls keep what
// is being filled in; nothing is rebuilt until the agent opens another conversation.

import { api, showError } from "./api.js";
import { act } from "./conversation.js";
import { register, t } from "./i18n.js";
import { onSessionEnd } from "./session.js";
import { $, element, state } from "./state.js";

const PLACEHOLDER = /\{\{\s*(\d+)\s*\}\}/g; // a template body's {{1}}, {{2}}...

let templates = []; // the tenant's approved templates for agents, read when the picker opens
let picker = null; // {conversation, userName}: the conversation the picker was filled in for

export function clearPicker() {
  picker = null;
}

export async function renderPicker(detail, picking) {
  $("template-form").hidden = !picking;
  if (!picking) {
    picker = null;
    return;
  }
  if (picker && picker.conversation === detail.id) return; // keep what is being filled in
  picker = { conversation: detail.id, userName: detail.user_name || "" };
  try {
    templates = (await api("GET", "/live/templates")).templates || [];
  } catch (error) {
    showError(error.message);
    picker = null; // the next poll asks again
    return;
  }
  if (!picker || picker.conversation !== detail.id) return; // closed or left meanwhile
  renderTemplateChoice();
}

function renderTemplateChoice() {
  $("no-templates").hidden = templates.length > 0;
  $("template-picker").hidden = templates.length === 0;
  const titles = templates.map((template) => template.title);
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
  return templates[Number($("template-choice").value)] || null;
}

// One labelled field per parameter of the chosen template; the first is offered the user's name.
export function renderTemplateFields() {
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
    if (index === 0 && picker && picker.userName) input.value = picker.userName;
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
  return shown.length
    ? t("template.previewValues", { title: template.title, values: shown.join(", ") })
    : t("template.previewTitle", { title: template.title });
}

export function renderPreview() {
  const template = chosenTemplate();
  $("template-preview").textContent = template ? templatePreview(template, parameterValues()) : "";
}

export async function sendTemplate(event) {
  event.preventDefault();
  const template = chosenTemplate();
  if (!template) return;
  const parameters = parameterValues();
  const empty = parameters.findIndex((value) => !value);
  if (empty >= 0) {
    showError(t("template.fillIn", { field: template.parameters[empty] }));
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

onSessionEnd(() => {
  templates = [];
  picker = null;
});

register({
  en: {
    "template.heading": "Send an approved template",
    "template.none": "Your tenant has no approved templates for agents: an administrator adds them under agent_templates.",
    "template.choice": "Template",
    "template.parameters": "Parameters",
    "template.preview": "What the user will receive",
    "template.send": "Send template",
    "template.previewValues": "Template {title}: {values}",
    "template.previewTitle": "Template {title}",
    "template.fillIn": "Fill in {field} before sending.",
  },
  es: {
    "template.heading": "Enviar una plantilla aprobada",
    "template.none": "Tu cuenta no tiene plantillas aprobadas para agentes: un administrador las agrega en agent_templates.",
    "template.choice": "Plantilla",
    "template.parameters": "Parámetros",
    "template.preview": "Lo que recibirá el usuario",
    "template.send": "Enviar plantilla",
    "template.previewValues": "Plantilla {title}: {values}",
    "template.previewTitle": "Plantilla {title}",
    "template.fillIn": "Completa {field} antes de enviar.",
  },
  pt: {
    "template.heading": "Enviar um modelo aprovado",
    "template.none": "A sua conta não tem modelos aprovados para agentes: um administrador os adiciona em agent_templates.",
    "template.choice": "Modelo",
    "template.parameters": "Parâmetros",
    "template.preview": "O que o usuário vai receber",
    "template.send": "Enviar modelo",
    "template.previewValues": "Modelo {title}: {values}",
    "template.previewTitle": "Modelo {title}",
    "template.fillIn": "Preencha {field} antes de enviar.",
  },
});
