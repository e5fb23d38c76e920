// The agent's preferences, kept in this browser: language, time zone, sound, desktop notifications.

import { chooseNotifications, chooseSound, notificationsOn, soundOn } from "./alerts.js";
import { choose, computerZone, LANGUAGES, languageChoice, onLanguageChange, register, t, zoneChoice, zones } from "./i18n.js";
import { $, element } from "./state.js";

function option(value, text) {
  const node = element("option", null, text);
  node.value = value;
  return node;
}

function renderChoices() {
  $("language-choice").replaceChildren(
    option("auto", t("preferences.languageAuto")),
    ...Object.entries(LANGUAGES).map(([code, name]) => option(code, name)),
  );
  $("language-choice").value = languageChoice();
  $("zone-choice").replaceChildren(
    option("auto", t("preferences.zoneAuto", { zone: computerZone() })),
    ...zones().map((name) => option(name, name.replace(/_/g, " "))),
  );
  $("zone-choice").value = zoneChoice();
  $("sound-choice").checked = soundOn();
  $("notify-choice").checked = notificationsOn();
}

export function setUpPreferences() {
  renderChoices();
  $("language-choice").addEventListener("change", (event) => choose({ language: event.target.value }));
  $("zone-choice").addEventListener("change", (event) => choose({ zone: event.target.value }));
  $("sound-choice").addEventListener("change", (event) => chooseSound(event.target.checked));
  $("notify-choice").addEventListener("change", async (event) => {
    event.target.checked = await chooseNotifications(event.target.checked);
  });
  onLanguageChange(renderChoices);
}

register({
  en: {
    "preferences.title": "Preferences",
    "preferences.language": "Language",
    "preferences.languageAuto": "Browser's language",
    "preferences.zone": "Time zone",
    "preferences.zoneAuto": "This computer's ({zone})",
    "preferences.sound": "Sound on new activity",
    "preferences.notify": "Desktop notifications",
  },
  es: {
    "preferences.title": "Preferencias",
    "preferences.language": "Idioma",
    "preferences.languageAuto": "El del navegador",
    "preferences.zone": "Zona horaria",
    "preferences.zoneAuto": "La de este equipo ({zone})",
    "preferences.sound": "Sonido ante novedades",
    "preferences.notify": "Notificaciones de escritorio",
  },
  pt: {
    "preferences.title": "Preferências",
    "preferences.language": "Idioma",
    "preferences.languageAuto": "O do navegador",
    "preferences.zone": "Fuso horário",
    "preferences.zoneAuto": "O deste computador ({zone})",
    "preferences.sound": "Som para novidades",
    "preferences.notify": "Notificações na área de trabalho",
  },
});
