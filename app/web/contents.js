// Beside the player: the chosen video's chapters and transcript (what was said, and the
// on-screen text as a second track), each line a button that plays from there, the line being
// played marked as current; and a timeline under the video with a mark for each clip the last
// question retrieved from it.

import { apiJson } from "./api.js";
import { report } from "./messages.js";
import { jump } from "./moments.js";
import { bus, el, hms, state, videoTitle } from "./util.js";

const video = document.getElementById("player");
const box = document.getElementById("contents");
const chaptersEl = document.getElementById("chapters");
const summaryEl = document.getElementById("summary");
const transcriptEl = document.getElementById("transcript");
const trackSelect = document.getElementById("transcript-track");
const tabs = [...box.querySelectorAll('[role="tab"]')];
const timeline = document.getElementById("timeline");

let shownId = null; // the video whose contents are drawn
let loading = null; // AbortController of the fetches under way
let lines = []; // [start, end, element] of the open list, for the current-line mark
let lastHits = [];

function line(start, end, label, text, videoId) {
  const button = el(
    "button",
    {
      type: "button",
      class: "line",
      dataset: { start, end },
      "aria-label": `Play from ${hms(start)}: ${text}`,
      onclick: () => jump(videoId, Number(start)),
    },
    el("span", { class: "line-time" }, label),
    el("span", { class: "line-text" }, text),
  );
  return el("li", {}, button);
}

function fill(list, items) {
  list.replaceChildren(...items);
  list.classList.toggle("empty", !items.length);
}

async function loadTrack(id, signal) {
  const track = trackSelect.value;
  const doc = await apiJson(
    `v1/videos/${encodeURIComponent(id)}/transcript?format=json&track=${track}`,
    { signal },
  );
  const items = doc.cues.map((c) => line(c.start_s, c.end_s, hms(c.start_s), c.text, id));
  if (!items.length) {
    const none = track === "speech" ? "No speech was recognised." : "No on-screen text was read.";
    items.push(el("li", { class: "hint" }, none));
  }
  fill(transcriptEl, items);
}

async function load(id) {
  loading?.abort();
  loading = new AbortController();
  const { signal } = loading;
  shownId = id;
  try {
    const body = await apiJson(`v1/videos/${encodeURIComponent(id)}/chapters`, { signal });
    // a summary exists only when a language model titled the chapters
    summaryEl.textContent = body.summary || "";
    summaryEl.hidden = !body.summary;
    fill(
      chaptersEl,
      body.chapters.map((c) =>
        line(c.start_s, c.end_s, `${hms(c.start_s)}–${hms(c.end_s)}`, c.title, id),
      ),
    );
    await loadTrack(id, signal);
    markCurrent();
  } catch (e) {
    if (e.name === "AbortError") return;
    shownId = null; // try again when the video is chosen again
    report(e, `Could not load the contents of ${videoTitle(state.videos.get(id))}`);
  }
}

/** Shows the contents of the selected video once it is ready; hides them otherwise. */
function follow() {
  const v = state.videos.get(state.selectedId);
  const ready = v?.status === "ready";
  box.hidden = !ready;
  if (!ready) {
    loading?.abort();
    shownId = null;
    fill(chaptersEl, []);
    fill(transcriptEl, []);
    summaryEl.hidden = true;
  } else if (shownId !== v.id) {
    load(v.id);
  }
  drawTimeline();
}

function openTab(tab) {
  for (const t of tabs) {
    const open = t === tab;
    t.setAttribute("aria-selected", String(open));
    t.tabIndex = open ? 0 : -1;
    document.getElementById(t.getAttribute("aria-controls")).hidden = !open;
  }
  markCurrent();
}

/** Marks the line being played in the open list (aria-current) and keeps it in view. */
function markCurrent() {
  const open = tabs.find((t) => t.getAttribute("aria-selected") === "true");
  const list = document.getElementById(open.getAttribute("aria-controls"));
  const t = video.currentTime;
  for (const button of list.querySelectorAll("button.line")) {
    const inside = t >= Number(button.dataset.start) && t < Number(button.dataset.end);
    if (inside && !button.hasAttribute("aria-current")) {
      button.setAttribute("aria-current", "true");
      button.scrollIntoView({ block: "nearest" });
    } else if (!inside) {
      button.removeAttribute("aria-current");
    }
  }
}

/** A mark on the bar under the player for each retrieved clip of the video shown. */
function drawTimeline() {
  const v = state.videos.get(state.selectedId);
  const hits = v ? lastHits.filter((h) => h.video_id === v.id) : [];
  const total = Number(v?.duration_s) || video.duration || 0;
  timeline.hidden = !hits.length || !total;
  timeline.replaceChildren(
    ...hits.map((h, i) => {
      const left = (100 * Number(h.start_s)) / total;
      const width = Math.max(0.6, (100 * (Number(h.end_s) - Number(h.start_s))) / total);
      return el("button", {
        type: "button",
        class: "marker",
        style: `left:${left.toFixed(3)}%;width:${width.toFixed(3)}%`,
        title: `Clip ${i + 1}: ${hms(h.start_s)}–${hms(h.end_s)}`,
        "aria-label": `Play retrieved clip ${i + 1} from ${hms(h.start_s)}`,
        dataset: { start: h.start_s, end: h.end_s },
        onclick: () => jump(h.video_id, Number(h.start_s)),
      });
    }),
  );
}

tabs.forEach((tab, i) => {
  tab.addEventListener("click", () => openTab(tab));
  // arrow keys move between tabs (the WAI-ARIA tabs pattern)
  tab.addEventListener("keydown", (e) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (!step) return;
    const next = tabs[(i + step + tabs.length) % tabs.length];
    openTab(next);
    next.focus();
  });
});
trackSelect.addEventListener("change", () => {
  if (!shownId) return;
  loadTrack(shownId, loading?.signal).then(markCurrent, (e) => {
    if (e.name !== "AbortError") report(e, "Could not load the transcript");
  });
});
video.addEventListener("timeupdate", markCurrent);
bus.addEventListener("select", follow);
bus.addEventListener("video", (e) => {
  if (e.detail.id === state.selectedId) follow();
});
bus.addEventListener("removed", follow);
bus.addEventListener("hits", (e) => {
  lastHits = e.detail || [];
  drawTimeline();
});
