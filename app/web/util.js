// Small shared helpers: DOM building, time and size formatting, the shared state and event bus.

/** Shared state: the library by id and the video shown in the player. */
export const state = {
  videos: new Map(),
  selectedId: null,
};

/** Events between the page's parts: "video" (detail: video record), "removed" (detail: id),
 * "select" (detail: id), "hits" (detail: the clips an answer retrieved). */
export const bus = new EventTarget();

export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

/** Creates an element: el("button", {class: "chip", onclick: f}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** 3723.4 -> "01:02:03" (always hours, as the answers cite them). */
export function hms(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

/** A duration for people: 75 -> "1:15", 3723 -> "1:02:03". */
export function duration(seconds) {
  if (seconds === undefined || seconds === null || !Number.isFinite(Number(seconds))) return "";
  const s = Math.round(Number(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function bytes(n) {
  if (!Number.isFinite(n)) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

export function videoTitle(video) {
  if (!video) return "";
  return video.title || video.filename || video.original_filename || video.id;
}

/** Parses "[01:02:03]", "1:02:03" or "02:03" into seconds. */
export function parseTimestamp(text) {
  const parts = text.replace(/[[\]]/g, "").split(":").map(Number);
  if (parts.some((p) => !Number.isFinite(p))) return null;
  return parts.reduce((total, p) => total * 60 + p, 0);
}
