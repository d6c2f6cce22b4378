// The library: the list of videos, newest first, their status and indexing progress,
// selection (which drives the player and the ask scope) and deletion.

import { api, apiJson, videoList } from "./api.js";
import { announce, report } from "./messages.js";
import { show } from "./player.js";
import { duration, el, emit, state, videoTitle } from "./util.js";

const list = document.getElementById("library-list");
const emptyNote = document.getElementById("library-empty");
const rows = new Map(); // id -> {li, parts}
const watching = new Set();
const POLL_MS = 1000;

export const isTerminal = (status) => status === "ready" || status === "failed";

/** Loads the list from the server; selects the newest ready video if none is selected. */
export async function refresh() {
  let videos;
  try {
    videos = videoList(await apiJson("v1/videos"));
  } catch (e) {
    if (!e.isAuth) report(e, "Could not load the library");
    return;
  }
  list.setAttribute("aria-busy", "false");
  emptyNote.hidden = videos.length > 0;
  const ids = new Set(videos.map((v) => v.id));
  for (const id of [...state.videos.keys()]) if (!ids.has(id)) forget(id);
  videos.forEach((video, index) => {
    update(video);
    const li = rows.get(video.id).li;
    // move only when out of place: moving a node takes focus away from it
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
  });
  if (!state.selectedId) {
    const ready = videos.find((v) => v.status === "ready");
    if (ready) select(ready.id);
  }
}

/** Merges a video record (from the list, a poll or an upload) into the page. */
export function update(video, { prepend = false } = {}) {
  const before = state.videos.get(video.id);
  const merged = { ...before, ...video };
  state.videos.set(video.id, merged);
  let row = rows.get(video.id);
  if (!row) {
    row = build(video.id);
    rows.set(video.id, row);
    if (prepend) list.prepend(row.li);
    else list.append(row.li);
  }
  render(row, merged);
  emptyNote.hidden = rows.size > 0;
  emit("video", merged);
  if (before && !isTerminal(before.status) && merged.status === "ready") {
    announce(`${videoTitle(merged)} is indexed and ready for questions.`);
    if (!state.selectedId) select(merged.id);
  }
  if (before && before.status !== "failed" && merged.status === "failed") {
    report(
      { message: merged.error?.message || merged.error || "indexing failed", type: "failed" },
      `Indexing ${videoTitle(merged)} failed`,
    );
  }
  if (!isTerminal(merged.status)) watch(merged.id);
  return merged;
}

function build(id) {
  const parts = {
    title: el("span", { class: "video-title" }),
    meta: el("span", { class: "video-meta" }),
    bar: el("progress", { class: "video-progress", max: 100 }),
    stage: el("span", { class: "video-stage" }),
    error: el("p", { class: "video-error" }),
  };
  parts.select = el(
    "button",
    { type: "button", class: "video-select", onclick: () => select(id) },
    parts.title,
    parts.meta,
  );
  parts.remove = el(
    "button",
    { type: "button", class: "button small danger", onclick: () => remove(id) },
    "Delete",
  );
  parts.progress = el("div", { class: "video-progress-row" }, parts.bar, parts.stage);
  const li = el(
    "li",
    { class: "video", dataset: { id } },
    parts.select,
    parts.remove,
    parts.progress,
    parts.error,
  );
  return { li, parts };
}

/** "indexing: ocr 40%" from {"stage": "ocr", "percent": 40}. */
export function progressText(video) {
  const p = video.progress || {};
  const percent = Number.isFinite(Number(p.percent)) ? `${Math.round(Number(p.percent))}%` : "";
  if (video.status === "queued") return "waiting for a worker";
  return [p.stage, percent].filter(Boolean).join(" ") || video.status;
}

function render({ li, parts }, video) {
  const title = videoTitle(video);
  parts.title.textContent = title;
  const status = video.status || "unknown";
  parts.meta.replaceChildren(
    duration(video.duration_s) ? `${duration(video.duration_s)} · ` : "",
    el("span", { class: "badge", dataset: { status } }, status),
  );
  parts.select.setAttribute("aria-label", `${title}, ${status}`);
  parts.remove.setAttribute("aria-label", `Delete ${title}`);
  li.dataset.status = status;
  const busy = !isTerminal(status);
  parts.progress.hidden = !busy;
  if (busy) {
    const percent = Number(video.progress?.percent);
    if (Number.isFinite(percent)) parts.bar.value = Math.min(100, Math.max(0, percent));
    else parts.bar.removeAttribute("value"); // indeterminate
    parts.bar.setAttribute("aria-label", `Indexing ${title}`);
    parts.bar.setAttribute("aria-valuetext", progressText(video));
    parts.stage.textContent = progressText(video);
  }
  const error = status === "failed" ? video.error?.message || video.error || "indexing failed" : "";
  parts.error.textContent = error ? String(error) : "";
  parts.error.hidden = !error;
  const selected = state.selectedId === video.id;
  parts.select.setAttribute("aria-pressed", String(selected));
  li.classList.toggle("selected", selected);
}

/** Makes `id` the current video: the player shows it and questions default to it. */
export function select(id) {
  state.selectedId = id;
  for (const [rowId, { li, parts }] of rows) {
    const selected = rowId === id;
    parts.select.setAttribute("aria-pressed", String(selected));
    li.classList.toggle("selected", selected);
  }
  show(id);
  emit("select", id);
}

async function remove(id) {
  const title = videoTitle(state.videos.get(id));
  if (!window.confirm(`Delete “${title}”? Its index is removed too.`)) return;
  try {
    await api(`v1/videos/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (e) {
    if (e.status !== 404) {
      report(e, `Could not delete ${title}`);
      return;
    }
  }
  forget(id);
  announce(`${title} deleted.`);
}

function forget(id) {
  const row = rows.get(id);
  const next = row?.li.nextElementSibling || row?.li.previousElementSibling;
  const hadFocus = row?.li.contains(document.activeElement);
  row?.li.remove();
  rows.delete(id);
  state.videos.delete(id);
  watching.delete(id);
  emptyNote.hidden = rows.size > 0;
  if (state.selectedId === id) select(null);
  emit("removed", id);
  // keep keyboard users in the list rather than dropping focus to the page top
  if (hadFocus) (next?.querySelector("button") || document.getElementById("library-heading")).focus();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a video until it is ready or failed (or gone). */
async function watch(id) {
  if (watching.has(id)) return;
  watching.add(id);
  let delay = POLL_MS;
  while (watching.has(id)) {
    await sleep(delay);
    if (!watching.has(id)) break;
    try {
      const video = await apiJson(`v1/videos/${encodeURIComponent(id)}`);
      delay = POLL_MS;
      update(video); // its own watch() call returns at once: this loop is the watch
      if (isTerminal(video.status)) break;
    } catch (e) {
      if (e.status === 404) {
        forget(id);
        break;
      }
      delay = Math.min(delay * 2, 15000);
      if (!e.isAuth) report(e, `Could not check ${videoTitle(state.videos.get(id))}`);
    }
  }
  watching.delete(id);
}
