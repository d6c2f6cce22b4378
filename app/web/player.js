// The player: an HTML5 <video> over /v1/videos/{id}/media (the server answers Range requests,
// so seeking does not download the whole file).

import { mediaUrl } from "./api.js";
import { bus, hms, state, videoTitle } from "./util.js";

const video = document.getElementById("player");
const heading = document.getElementById("player-title");
const empty = document.getElementById("player-empty");
const position = document.getElementById("player-position");

let loadedId = null;
let seekToken = 0;

/** Shows video `id` in the player (or clears it when id is null). */
export function show(id) {
  if (id === loadedId) return;
  loadedId = id;
  if (!id) {
    video.removeAttribute("src");
    video.load();
    video.hidden = true;
    empty.hidden = false;
    heading.textContent = "Player";
    position.textContent = "";
    return;
  }
  video.hidden = false;
  empty.hidden = true;
  heading.textContent = videoTitle(state.videos.get(id)) || "Player";
  video.src = mediaUrl(id);
  video.load();
}

function metadataReady() {
  if (video.readyState >= HTMLMediaElement.HAVE_METADATA) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      video.removeEventListener("loadedmetadata", done);
      video.removeEventListener("error", failed);
      resolve();
    };
    const failed = () => {
      video.removeEventListener("loadedmetadata", done);
      video.removeEventListener("error", failed);
      reject(new Error("The video could not be loaded"));
    };
    video.addEventListener("loadedmetadata", done);
    video.addEventListener("error", failed);
  });
}

/** Plays video `id` from second `t`, loading it first when needed. */
export async function seek(id, t) {
  const token = ++seekToken;
  show(id);
  await metadataReady();
  if (token !== seekToken) return; // a later click won
  video.currentTime = Math.max(0, t);
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  video.scrollIntoView({ block: "nearest", behavior: still ? "auto" : "smooth" });
  // playing after a click is allowed; if the browser refuses, the video stays paused there
  video.play().catch(() => {});
}

/** The title follows the library (a video renamed or deleted elsewhere). */
bus.addEventListener("video", (e) => {
  if (e.detail.id === loadedId) heading.textContent = videoTitle(e.detail);
});
bus.addEventListener("removed", (e) => {
  if (e.detail === loadedId) show(null);
});

video.addEventListener("timeupdate", () => {
  position.textContent = loadedId ? hms(video.currentTime) : "";
});
video.addEventListener("error", () => {
  if (loadedId) position.textContent = "The video could not be played in this browser.";
});
