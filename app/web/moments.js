// Moments: citations as chips, retrieved clips as thumbnails with their evidence, times in an
// answer as buttons; each plays its moment in the player.

import { ApiError, frameSrc } from "./api.js";
import { select } from "./library.js";
import { announce, report } from "./messages.js";
import { seek } from "./player.js";
import { el, hms, parseTimestamp, state, videoTitle } from "./util.js";

let blobUrls = [];
const hitTitles = new Map(); // video id -> title, as the hits name them

export function titleOf(videoId) {
  return videoTitle(state.videos.get(videoId)) || hitTitles.get(videoId) || videoId;
}

/** Plays video `videoId` from second `t`, selecting it in the library first. */
export async function jump(videoId, t) {
  if (state.selectedId !== videoId) select(videoId);
  try {
    await seek(videoId, t);
    announce(`Playing ${titleOf(videoId)} from ${hms(t)}.`);
  } catch (e) {
    report(new ApiError(0, "media_error", e.message), `Could not play ${titleOf(videoId)}`);
  }
}

/** A citation as a chip "[00:12:31]" that plays the cited clip. */
export function chip(citation, withTitle) {
  const title = titleOf(citation.video_id);
  const label = `[${hms(citation.start_s)}]`;
  return el(
    "button",
    {
      type: "button",
      class: "chip citation",
      dataset: {
        videoId: citation.video_id,
        start: citation.start_s,
        end: citation.end_s ?? citation.start_s,
      },
      "aria-label": `Play ${title} from ${hms(citation.start_s)}`,
      title: `${title} · ${hms(citation.start_s)}–${hms(citation.end_s ?? citation.start_s)}`,
      onclick: () => jump(citation.video_id, Number(citation.start_s)),
    },
    withTitle ? el("span", { class: "chip-video" }, title) : null,
    label,
  );
}

/** Frees the thumbnails fetched as blobs (with an API key). */
export function clearThumbs() {
  for (const url of blobUrls) URL.revokeObjectURL(url);
  blobUrls = [];
}

/** Where a thumbnail is taken: inside the visual evidence when there is some, else mid-clip. */
function thumbTime(hit) {
  const visual = (hit.evidence || []).find(
    (e) => e.modality !== "speech" && Number.isFinite(Number(e.start_s)),
  );
  const [a, b] = visual ? [visual.start_s, visual.end_s ?? visual.start_s] : [hit.start_s, hit.end_s];
  return (Number(a) + Number(b ?? a)) / 2;
}

/** Fills `list` with the retrieved clips: a thumbnail and time that play the clip, and its
 * evidence (modality and text). Thumbnails are fetched with `signal`. */
export function renderHits(list, hits, signal) {
  clearThumbs();
  list.replaceChildren();
  // name the video on each clip only when the clips come from more than one
  const many = new Set(hits.map((h) => h.video_id)).size > 1;
  hits.forEach((hit, i) => {
    if (hit.title) hitTitles.set(hit.video_id, hit.title);
    const title = titleOf(hit.video_id);
    const span = `${hms(hit.start_s)}–${hms(hit.end_s)}`;
    const img = el("img", { alt: "", loading: "lazy", width: 160, height: 90, class: "thumb" });
    img.addEventListener("error", () => img.classList.add("missing"));
    const where = el(
      "button",
      {
        type: "button",
        class: "hit-button",
        "aria-label": `Play clip ${i + 1}: ${title} from ${span}`,
        onclick: () => jump(hit.video_id, Number(hit.start_s)),
      },
      img,
      el("span", { class: "hit-time" }, `[${span}]`),
    );
    const evidence = el(
      "ul",
      { class: "evidence" },
      (hit.evidence || []).map((e) =>
        el(
          "li",
          {},
          el("span", { class: "modality", dataset: { modality: e.modality } }, e.modality),
          " ",
          el("span", { class: "evidence-text" }, e.text),
        ),
      ),
    );
    const li = el(
      "li",
      { class: "hit", dataset: { videoId: hit.video_id, start: hit.start_s, end: hit.end_s } },
      where,
      el("div", { class: "hit-body" }, many ? el("p", { class: "hit-video" }, title) : null, evidence),
    );
    // the whole card is a pointer target; keyboard users have the button
    li.addEventListener("click", (e) => {
      if (!where.contains(e.target)) jump(hit.video_id, Number(hit.start_s));
    });
    list.append(li);
    frameSrc(hit.video_id, thumbTime(hit), signal).then(
      (src) => {
        if (src.startsWith("blob:")) blobUrls.push(src);
        img.src = src;
      },
      () => img.classList.add("missing"),
    );
  });
}

/** Which cited clip a time in the answer points to: one that contains it; among several in
 * different videos, the one whose title appears earlier on the same line. */
function citedAt(t, citations, lineBefore) {
  const near = citations.filter(
    (c) => t >= Number(c.start_s) - 1 && t <= Number(c.end_s ?? c.start_s) + 1,
  );
  if (near.length > 1) {
    const named = near.find((c) => lineBefore.includes(titleOf(c.video_id)));
    if (named) return named;
  }
  return near[0] || null;
}

/** The answer text with its timestamps as buttons that play the moment; `scopeIds` are the
 * videos the question was about. */
export function linkify(text, citations, scopeIds = []) {
  const out = [];
  const pattern = /\b(?:\d{1,2}:)?\d{1,2}:\d{2}\b(?:\s*[–-]\s*(?:\d{1,2}:)?\d{1,2}:\d{2}\b)?/g;
  const videos = new Set(citations.map((c) => c.video_id));
  // a time that no citation contains still belongs to the only video in play, if there is one
  const only = videos.size === 1 ? [...videos][0] : scopeIds.length === 1 ? scopeIds[0] : null;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const t = parseTimestamp(match[0].split(/[–-]/)[0].trim());
    if (t === null) continue;
    const lineBefore = text.slice(text.lastIndexOf("\n", match.index) + 1, match.index);
    const videoId = citedAt(t, citations, lineBefore)?.video_id ?? only;
    if (!videoId) continue;
    out.push(text.slice(last, match.index));
    out.push(
      el(
        "button",
        {
          type: "button",
          class: "inline-time",
          "aria-label": `Play ${titleOf(videoId)} from ${hms(t)}`,
          onclick: () => jump(videoId, t),
        },
        match[0],
      ),
    );
    last = match.index + match[0].length;
  }
  out.push(text.slice(last));
  return out;
}
