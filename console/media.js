// What the user sent (docs/console.md): an image is shown, audio and video play with their
// controls, a document is a download link with its name and size, a place shows its name, address
// and coordinates with a link to a map (an external page the agent opens: nothing is fetched).
//
// A file comes from the Live API only (its line's `media.path`, with the token in the Authorization
// header; the API fetches it from Meta), when its line is first on screen, and is kept for the
// session as a blob: URL (the page's Content-Security-Policy allows blob: for images and media
// only). Each line's block is made once and moved into the transcript each time it is drawn again,
// so a playing voice note goes on playing while the list refreshes. A refusal is shown on its line,
// in the API's words, with a way to try again.

import { ApiError, apiUrl } from "./api.js";
import { canRefresh, refreshToken, sessionEnded, signOut } from "./auth.js";
import { locale, onLanguageChange, register, t } from "./i18n.js";
import { onSessionEnd } from "./session.js";
import { element, state } from "./state.js";

const MAP_URL = "https://www.openstreetmap.org/";
const blocks = new Map(); // media path -> {node, entry, file, error}: one block per line, for the session
let watcher = null;

// The block of a transcript line that holds a file or a place; null for any other line.
export function mediaBlock(entry) {
  const media = entry.media;
  if (!media) return null;
  if (media.path) return fileBlock(entry);
  if (media.latitude !== null && media.latitude !== undefined) return placeBlock(entry);
  if (entry.kind === "location") return null; // a place without coordinates: its text says it all
  return element("p", "media media-status", t("media.noFile"));
}

// --- places -------------------------------------------------------------------------------------

function placeBlock(entry) {
  const { latitude, longitude, name, address } = entry.media;
  const block = element("div", "media media-place");
  if (!entry.text) {
    // the line's text is the place's name and address when the channel gave them; else say them here
    for (const part of [name, address]) if (part) block.append(element("p", "place-part", part));
  }
  const coordinates = `${latitude}, ${longitude}`;
  block.append(element("p", "coordinates", t("media.coordinates", { coordinates })));
  const link = element("a", "map-link", t("media.openMap"));
  link.href = `${MAP_URL}?mlat=${latitude}&mlon=${longitude}#map=17/${latitude}/${longitude}`;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.setAttribute("aria-label", t("media.openMapOf", { place: name || coordinates }));
  block.append(link);
  return block;
}

// --- files --------------------------------------------------------------------------------------

function fileBlock(entry) {
  const path = entry.media.path;
  let block = blocks.get(path);
  if (!block) {
    block = { node: element("div", "media media-file"), entry, file: null, error: null, loading: false };
    block.node.dataset.path = path;
    blocks.set(path, block);
    draw(block);
    observe(block.node);
  }
  return block.node;
}

// Only what the agent scrolls to is fetched.
function observe(node) {
  if (!("IntersectionObserver" in window)) {
    load(blocks.get(node.dataset.path));
    return;
  }
  watcher ??= new IntersectionObserver((seen) => {
    for (const item of seen) {
      if (!item.isIntersecting) continue;
      watcher.unobserve(item.target);
      load(blocks.get(item.target.dataset.path));
    }
  });
  watcher.observe(node);
}

async function load(block) {
  if (!block || block.loading || block.file) return;
  block.loading = true;
  block.error = null;
  draw(block);
  try {
    block.file = await fetchFile(block.entry.media.path);
  } catch (error) {
    block.error = error.message;
  } finally {
    block.loading = false;
  }
  if (blocks.get(block.entry.media.path) === block) draw(block); // unless the session ended meanwhile
}

function draw(block) {
  const { node, entry, file, error } = block;
  if (file) {
    node.replaceChildren(fileContent(entry, file));
  } else if (error) {
    const message = element("p", "media-error", t("media.failed", { reason: error }));
    const again = element("button", "secondary media-retry", t("media.retry"));
    again.type = "button";
    again.addEventListener("click", () => load(block));
    node.replaceChildren(message, again);
  } else {
    const status = element("p", "media-status", t("media.loading", { kind: t(`kind.${entry.kind}`) }));
    status.setAttribute("role", "status");
    node.replaceChildren(status);
  }
}

function fileContent(entry, file) {
  const media = entry.media;
  const family = file.type.split("/")[0];
  if (entry.kind !== "document" && family === "image") {
    const image = element("img", "media-image");
    image.src = file.url;
    image.alt = media.caption || t("media.imageAlt", { kind: t(`kind.${entry.kind}`) });
    return image;
  }
  if (entry.kind !== "document" && (family === "audio" || family === "video")) {
    const player = element(family, `media-${family}`);
    player.controls = true;
    player.preload = "metadata";
    player.src = file.url;
    player.setAttribute("aria-label", t(`media.${family}Label`));
    return player;
  }
  const name = media.file_name || t("media.unnamed", { kind: t(`kind.${entry.kind}`) });
  const link = element("a", "media-download", t("media.download", { name, size: formatSize(file.size) }));
  link.href = file.url;
  link.download = name;
  return link;
}

function formatSize(bytes) {
  const [value, unit] = bytes < 1024 * 1024 ? [bytes / 1024, "kilobyte"] : [bytes / (1024 * 1024), "megabyte"];
  return new Intl.NumberFormat(locale(), { style: "unit", unit, maximumFractionDigits: 1 }).format(value);
}

// The file's bytes, with the token: a 401 renews it once, as every other request does; a refusal
// is an error in the API's own words.
async function fetchFile(path, renewed = false) {
  let response;
  try {
    response = await fetch(apiUrl(path), { headers: { Authorization: `Bearer ${state.token}` } });
  } catch (error) {
    throw new ApiError(0, t("api.unreachable", { reason: error.message }));
  }
  if (response.status === 401) {
    if (!renewed && canRefresh()) {
      await refreshToken();
      return fetchFile(path, true);
    }
    signOut(sessionEnded());
    throw new ApiError(401, sessionEnded());
  }
  if (!response.ok) {
    let message = "";
    try {
      message = (await response.json()).message || "";
    } catch {
      message = "";
    }
    throw new ApiError(response.status, message || t("api.answered", { status: response.status, text: "" }));
  }
  const blob = await response.blob();
  return { url: URL.createObjectURL(blob), type: blob.type, size: blob.size };
}

onSessionEnd(() => {
  watcher?.disconnect();
  watcher = null;
  for (const block of blocks.values()) if (block.file) URL.revokeObjectURL(block.file.url);
  blocks.clear();
});

onLanguageChange(() => {
  for (const block of blocks.values()) draw(block);
});

register({
  en: {
    "media.loading": "Loading the {kind}…",
    "media.failed": "The file cannot be shown: {reason}",
    "media.retry": "Try again",
    "media.noFile": "Meta gave no way to this file.",
    "media.imageAlt": "The user's {kind}",
    "media.audioLabel": "The user's audio",
    "media.videoLabel": "The user's video",
    "media.unnamed": "{kind} from the user",
    "media.download": "Download {name} ({size})",
    "media.coordinates": "Coordinates {coordinates}",
    "media.openMap": "Open in a map",
    "media.openMapOf": "Open {place} in a map (a new tab)",
  },
  es: {
    "media.loading": "Cargando {kind}…",
    "media.failed": "No se puede mostrar el archivo: {reason}",
    "media.retry": "Reintentar",
    "media.noFile": "Meta no dio acceso a este archivo.",
    "media.imageAlt": "{kind} del usuario",
    "media.audioLabel": "Audio del usuario",
    "media.videoLabel": "Video del usuario",
    "media.unnamed": "{kind} del usuario",
    "media.download": "Descargar {name} ({size})",
    "media.coordinates": "Coordenadas {coordinates}",
    "media.openMap": "Abrir en un mapa",
    "media.openMapOf": "Abrir {place} en un mapa (nueva pestaña)",
  },
  pt: {
    "media.loading": "Carregando {kind}…",
    "media.failed": "Não é possível mostrar o arquivo: {reason}",
    "media.retry": "Tentar de novo",
    "media.noFile": "A Meta não deu acesso a este arquivo.",
    "media.imageAlt": "{kind} do usuário",
    "media.audioLabel": "Áudio do usuário",
    "media.videoLabel": "Vídeo do usuário",
    "media.unnamed": "{kind} do usuário",
    "media.download": "Baixar {name} ({size})",
    "media.coordinates": "Coordenadas {coordinates}",
    "media.openMap": "Abrir em um mapa",
    "media.openMapOf": "Abrir {place} em um mapa (nova aba)",
  },
});
