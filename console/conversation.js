// One conversation: its transcript, Take / Reply / Close, and what the channel lets the agent send
// now, said before they type.

import { tookThemselves } from "./alerts.js";
import { api, attempt, showError } from "./api.js";
import { formatTime, onLanguageChange, register, t } from "./i18n.js";
import { badge, CHANNELS, lastUserText, refreshList, renderList } from "./list.js";
import { mediaBlock } from "./media.js";
import { authorLabel, renderHandover } from "./people.js";
import { onSessionEnd } from "./session.js";
import { $, element, state } from "./state.js";
import { clearPicker, renderPicker } from "./templates.js";
import { closedLine } from "./views.js";

function clearPane() {
  $("pane-title").textContent = t("pane.choose");
  $("pane-meta").textContent = "";
  $("transcript").replaceChildren();
  $("actions").hidden = true;
  clearPicker();
}

export async function renderConversation() {
  const id = state.selected;
  let detail;
  try {
    detail = await api("GET", `/live/conversations/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error.status === 404) {
      state.selected = null;
      clearPane();
    }
    throw error;
  }
  if (id !== state.selected) return; // another one was opened meanwhile
  state.lastMessages.set(id, { stamp: detail.last_user_message_at, text: lastUserText(detail.transcript) });
  $("pane-title").textContent = `${detail.user_name || t("list.unnamed")} · ${CHANNELS[detail.channel] || detail.channel}`;
  const mine = detail.agent_id === state.claims.sub && detail.state !== "queued";
  const closed = closedLine(detail); // opened from the closed view: who closed it, and read only
  const meta = closed ? [closed, t("closed.readOnly")] : [badge(detail).text];
  if (detail.notified_available) meta.push(t("pane.toldAvailable"));
  if (detail.notice) meta.push(detail.notice);
  $("pane-meta").textContent = meta.join(" · ");

  const transcript = $("transcript");
  const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  transcript.replaceChildren();
  for (const entry of detail.transcript) {
    const line = element("li", `entry author-${entry.author}`);
    const head = element("span", "head");
    head.append(element("span", "author", authorLabel(entry)));
    if (entry.kind !== "text") head.append(element("span", "kind", t(`kind.${entry.kind}`)));
    const time = element("time", "at", formatTime(entry.at));
    time.dateTime = entry.at;
    head.append(time);
    line.append(head);
    line.append(element("p", "text", entry.text || `[${t(`kind.${entry.kind}`)}]`));
    const media = mediaBlock(entry); // what the user sent: shown, played, downloaded (media.js)
    if (media) line.append(media);
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
  await renderHandover(detail, mine);
}

// The Live API says what may reach the user now (`agent_may_send`, by the server's clock, as the
// engine decides): free text, only an approved template (WhatsApp past 24 hours), or nothing
// (Messenger and Instagram past 7 days). A template does not reopen the window: the user's answer does.
function windowNotice(detail) {
  const until = detail.reply_window_closes_at ? formatTime(detail.reply_window_closes_at) : null;
  switch (detail.agent_may_send) {
    case "text":
      if (!until) return null;
      return { closed: false, text: t(detail.channel === "whatsapp" ? "window.openWhatsApp" : "window.openMeta", { until }) };
    case "template":
      return { closed: true, text: t("window.closedWhatsApp") };
    case "nothing":
      return { closed: true, text: t("window.closedMeta") };
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
  $("reply-text").placeholder = freeText ? t("reply.placeholder") : t("reply.cannotReach");
  await renderPicker(detail, mine && detail.agent_may_send === "template");
}

export async function open(id) {
  state.selected = id;
  renderList();
  await attempt(renderConversation);
}

// Take, reply, template, close: the API's answer, then the conversation and the list as they are now.
export async function act(action, body) {
  const id = state.selected;
  if (!id) return false;
  const done = await attempt(async () => {
    await api("POST", `/live/conversations/${encodeURIComponent(id)}/${action}`, body);
    return true;
  });
  if (done && action === "take") tookThemselves.add(id); // no alert for what the agent did
  try {
    await renderConversation();
    await refreshList();
  } catch (error) {
    if (done) showError(error.message); // else keep the refusal on screen
  }
  return Boolean(done);
}

export async function sendReply(event) {
  event.preventDefault();
  const box = $("reply-text");
  const text = box.value.trim();
  if (!text) {
    showError(t("reply.empty"));
    return;
  }
  // clear only what was sent: the agent may have started the next message meanwhile
  if ((await act("reply", { text })) && box.value.trim() === text) box.value = "";
}

onSessionEnd(clearPane);

onLanguageChange(() => {
  if (state.selected) renderConversation().catch(() => {});
  else clearPane();
});

register({
  en: {
    "pane.choose": "Choose a conversation",
    "pane.transcript": "Transcript",
    "pane.toldAvailable": "told an agent is available",
    "author.user": "User",
    "author.bot": "Bot",
    "author.agent": "Agent",
    "author.system": "System",
    "kind.text": "text",
    "kind.choice": "choice",
    "kind.image": "image",
    "kind.video": "video",
    "kind.audio": "audio",
    "kind.document": "document",
    "kind.sticker": "sticker",
    "kind.location": "location",
    "kind.contacts": "contacts",
    "kind.order": "order",
    "kind.story_reply": "story reply",
    "kind.story_mention": "story mention",
    "kind.share": "share",
    "kind.unsupported": "unsupported",
    "kind.other": "other",
    "kind.template": "template",
    "window.openWhatsApp": "You can reply until {until}. After that, WhatsApp takes only an approved template until the user writes again.",
    "window.openMeta": "You can reply until {until} (7 days after the user's last message). After that, nobody can write until the user writes again.",
    "window.closedWhatsApp": "The 24-hour window is closed: send an approved template. Free text works again once the user answers.",
    "window.closedMeta": "The 7-day window is closed: nobody can write until the user writes again.",
    "reply.placeholder": "Write to the user (Ctrl+Enter sends, / for canned answers)",
    "reply.cannotReach": "Free text cannot reach the user now (see above)",
    "reply.empty": "Write something before sending.",
  },
  es: {
    "pane.choose": "Elige una conversación",
    "pane.transcript": "Transcripción",
    "pane.toldAvailable": "se le avisó que hay un agente disponible",
    "author.user": "Usuario",
    "author.bot": "Bot",
    "author.agent": "Agente",
    "author.system": "Sistema",
    "kind.text": "texto",
    "kind.choice": "opción",
    "kind.image": "imagen",
    "kind.video": "video",
    "kind.audio": "audio",
    "kind.document": "documento",
    "kind.sticker": "sticker",
    "kind.location": "ubicación",
    "kind.contacts": "contactos",
    "kind.order": "pedido",
    "kind.story_reply": "respuesta a historia",
    "kind.story_mention": "mención en historia",
    "kind.share": "compartido",
    "kind.unsupported": "no admitido",
    "kind.other": "otro",
    "kind.template": "plantilla",
    "window.openWhatsApp": "Puedes responder hasta el {until}. Después, WhatsApp solo acepta una plantilla aprobada hasta que el usuario vuelva a escribir.",
    "window.openMeta": "Puedes responder hasta el {until} (7 días después del último mensaje del usuario). Después, nadie puede escribir hasta que el usuario vuelva a escribir.",
    "window.closedWhatsApp": "La ventana de 24 horas está cerrada: envía una plantilla aprobada. El texto libre vuelve a funcionar cuando el usuario responda.",
    "window.closedMeta": "La ventana de 7 días está cerrada: nadie puede escribir hasta que el usuario vuelva a escribir.",
    "reply.placeholder": "Escribe al usuario (Ctrl+Enter envía, / para respuestas rápidas)",
    "reply.cannotReach": "El texto libre no puede llegar al usuario ahora (ver arriba)",
    "reply.empty": "Escribe algo antes de enviar.",
  },
  pt: {
    "pane.choose": "Escolha uma conversa",
    "pane.transcript": "Transcrição",
    "pane.toldAvailable": "avisado de que há um agente disponível",
    "author.user": "Usuário",
    "author.bot": "Bot",
    "author.agent": "Agente",
    "author.system": "Sistema",
    "kind.text": "texto",
    "kind.choice": "opção",
    "kind.image": "imagem",
    "kind.video": "vídeo",
    "kind.audio": "áudio",
    "kind.document": "documento",
    "kind.sticker": "figurinha",
    "kind.location": "localização",
    "kind.contacts": "contatos",
    "kind.order": "pedido",
    "kind.story_reply": "resposta ao story",
    "kind.story_mention": "menção no story",
    "kind.share": "compartilhamento",
    "kind.unsupported": "não suportado",
    "kind.other": "outro",
    "kind.template": "modelo",
    "window.openWhatsApp": "Você pode responder até {until}. Depois disso, o WhatsApp aceita apenas um modelo aprovado até o usuário escrever de novo.",
    "window.openMeta": "Você pode responder até {until} (7 dias após a última mensagem do usuário). Depois disso, ninguém pode escrever até o usuário escrever de novo.",
    "window.closedWhatsApp": "A janela de 24 horas está fechada: envie um modelo aprovado. O texto livre volta a funcionar quando o usuário responder.",
    "window.closedMeta": "A janela de 7 dias está fechada: ninguém pode escrever até o usuário escrever de novo.",
    "reply.placeholder": "Escreva ao usuário (Ctrl+Enter envia, / para respostas prontas)",
    "reply.cannotReach": "O texto livre não pode chegar ao usuário agora (veja acima)",
    "reply.empty": "Escreva algo antes de enviar.",
  },
});
