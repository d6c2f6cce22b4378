// Asking: POST /v1/ask with stream=true; the answer streams in as server-sent events
// (hits, delta, done, error). Citations and retrieved clips seek the player.

import { ApiError, api } from "./api.js";
import { announce } from "./messages.js";
import { chip, clearThumbs, linkify, renderHits as fillHits } from "./moments.js";
import { readEvents } from "./sse.js";
import { bus, el, emit, state, videoTitle } from "./util.js";

const form = document.getElementById("ask-form");
const question = document.getElementById("question");
const scope = document.getElementById("scope");
const topK = document.getElementById("top-k");
const askButton = document.getElementById("ask-button");
const stopButton = document.getElementById("stop-button");
const result = document.getElementById("result");
const answerEl = document.getElementById("answer");
const errorEl = document.getElementById("answer-error");
const noteEl = document.getElementById("answer-note");
const citationsEl = document.getElementById("citations");
const metaEl = document.getElementById("answer-meta");
const hitsSection = document.getElementById("hits-section");
const hitsEl = document.getElementById("hits");

let controller = null;
let scopeIds = [];

// --- scope: the selected video or the whole library -----------------------------------------

function updateScope() {
  const option = scope.querySelector('option[value="selected"]');
  const video = state.videos.get(state.selectedId);
  option.disabled = !video;
  option.textContent = video ? `This video: ${videoTitle(video)}` : "This video (none selected)";
  if (!video && scope.value === "selected") scope.value = "all";
}
bus.addEventListener("select", () => {
  if (state.selectedId) scope.value = "selected";
  updateScope();
});
bus.addEventListener("video", updateScope);
bus.addEventListener("removed", updateScope);
updateScope();

// --- rendering -------------------------------------------------------------------------------

function reset() {
  clearThumbs();
  result.hidden = false;
  answerEl.replaceChildren();
  answerEl.classList.remove("empty");
  errorEl.hidden = true;
  errorEl.textContent = "";
  noteEl.hidden = true;
  noteEl.textContent = "";
  citationsEl.replaceChildren();
  citationsEl.hidden = true;
  metaEl.textContent = "";
  hitsEl.replaceChildren();
  hitsSection.hidden = true;
  emit("hits", []);
}

function showError(error) {
  errorEl.hidden = false;
  errorEl.textContent =
    error instanceof ApiError ? `Error: ${error.describe()}` : `Error: ${error.message || error}`;
}

function renderHits(hits) {
  hitsSection.hidden = !hits.length;
  fillHits(hitsEl, hits, controller?.signal);
  emit("hits", hits); // the timeline under the player marks them
}

function degradedReason(degraded) {
  if (!degraded) return "";
  if (typeof degraded === "string") return degraded;
  if (typeof degraded === "object") return degraded.reason || degraded.message || "";
  return "";
}

function renderDone(done, streamedText) {
  const text = typeof done.answer === "string" ? done.answer : streamedText;
  const citations = Array.isArray(done.citations) ? done.citations : [];
  answerEl.replaceChildren(...linkify(text || "", citations, scopeIds));
  if (!text) {
    answerEl.classList.add("empty");
    answerEl.textContent = "No answer was found in the retrieved clips.";
  }
  citationsEl.hidden = !citations.length;
  const many = new Set(citations.map((c) => c.video_id)).size > 1;
  citationsEl.replaceChildren(
    ...(citations.length ? [el("span", { class: "label" }, "Sources")] : []),
    ...citations.map((c) => chip(c, many)),
  );
  const reason = degradedReason(done.degraded);
  const notes = [];
  if (done.model === "extractive") {
    notes.push("Extractive answer: quoted from the retrieved clips, no language model used.");
  } else if (done.model) {
    notes.push(`Answered by ${done.model}.`);
  }
  if (reason) notes.push(`Degraded: ${reason}.`);
  else if (done.degraded && done.model !== "extractive") notes.push("Degraded answer.");
  noteEl.hidden = !notes.length;
  noteEl.textContent = notes.join(" ");
  noteEl.classList.toggle("extractive", done.model === "extractive");
  const timings = Object.entries(done.timings_ms || {})
    .filter(([, v]) => Number.isFinite(Number(v)))
    .map(([k, v]) => `${k.replace(/_/g, " ")} ${Math.round(Number(v))} ms`);
  metaEl.textContent = timings.join(" · ");
  if (Array.isArray(done.hits) && !hitsEl.children.length) renderHits(done.hits);
  announce(
    `Answer ready${citations.length ? ` with ${citations.length} cited moment${citations.length > 1 ? "s" : ""}` : ""}.`,
  );
}

// --- the request -----------------------------------------------------------------------------

function parse(data) {
  try {
    return JSON.parse(data);
  } catch {
    return { text: data };
  }
}

async function ask(q, videoIds, k) {
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  scopeIds = videoIds || [];
  reset();
  answerEl.setAttribute("aria-busy", "true");
  askButton.disabled = true;
  stopButton.hidden = false;
  let streamed = "";
  let finished = false;
  const body = { question: q, stream: true };
  if (videoIds) body.video_ids = videoIds;
  if (k) body.top_k = k;
  try {
    const response = await api("v1/ask", {
      method: "POST",
      json: body,
      headers: { Accept: "text/event-stream, application/json" },
      signal,
    });
    const type = response.headers.get("content-type") || "";
    if (!type.includes("text/event-stream")) {
      const done = await response.json();
      renderHits(done.hits || []);
      renderDone(done, "");
      finished = true;
      return;
    }
    const textNode = document.createTextNode("");
    answerEl.append(textNode);
    for await (const { event, data } of readEvents(response.body, { signal })) {
      const payload = parse(data);
      if (event === "hits") {
        renderHits(Array.isArray(payload) ? payload : payload.hits || []);
      } else if (event === "delta" || event === "message") {
        streamed += payload.text ?? payload.delta ?? "";
        textNode.data = streamed;
      } else if (event === "done") {
        renderDone(payload, streamed);
        finished = true;
      } else if (event === "error") {
        const e = payload.error || payload;
        throw new ApiError(e.code || 0, e.type || "error", e.message || "The answer failed");
      }
    }
    if (!finished) showError(new ApiError(0, "incomplete", "The answer stream ended early."));
  } catch (e) {
    if (controller?.signal !== signal) return; // a newer question replaced this one
    if (e.name === "AbortError" || signal.aborted) {
      noteEl.hidden = false;
      noteEl.textContent = "Stopped.";
    } else {
      showError(e);
      announce("The question failed.");
    }
  } finally {
    if (controller?.signal === signal) {
      answerEl.setAttribute("aria-busy", "false");
      askButton.disabled = false;
      stopButton.hidden = true;
      if (!finished && !answerEl.textContent) answerEl.classList.add("empty");
    }
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const q = question.value.trim();
  if (!q) {
    question.focus();
    return;
  }
  const ids = scope.value === "selected" && state.selectedId ? [state.selectedId] : undefined;
  const k = Number.parseInt(topK.value, 10);
  ask(q, ids, Number.isFinite(k) && k > 0 ? k : undefined);
});

stopButton.addEventListener("click", () => {
  controller?.abort();
  question.focus();
});
