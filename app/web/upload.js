// Adding videos: pick or drop a file, upload it with a progress bar, then follow its indexing
// until it is ready. Rejected files (not a video, too large) say why.

import { uploadVideo } from "./api.js";
import { isTerminal, progressText, update } from "./library.js";
import { announce } from "./messages.js";
import { bus, bytes, el, videoTitle } from "./util.js";

const form = document.getElementById("upload-form");
const input = document.getElementById("file-input");
const zone = document.getElementById("dropzone");
const chosen = document.getElementById("file-chosen");
const titleInput = document.getElementById("title-input");
const button = document.getElementById("upload-button");
const transfers = document.getElementById("transfers");

let file = null;

function choose(next) {
  file = next || null;
  chosen.textContent = file ? `${file.name} (${bytes(file.size)})` : "No file chosen";
  button.disabled = !file;
}

input.addEventListener("change", () => choose(input.files[0]));

// drag and drop anywhere on the zone; the page itself must not open a dropped file
for (const type of ["dragenter", "dragover"]) {
  zone.addEventListener(type, (e) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    zone.classList.add("dragging");
  });
}
zone.addEventListener("dragleave", (e) => {
  if (!zone.contains(e.relatedTarget)) zone.classList.remove("dragging");
});
zone.addEventListener("drop", (e) => {
  e.preventDefault();
  zone.classList.remove("dragging");
  const dropped = e.dataTransfer.files;
  if (!dropped.length) return;
  choose(dropped[0]);
  if (dropped.length > 1) announce("One video at a time: the first file was chosen.");
  button.focus();
});
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => e.preventDefault());

form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!file) return;
  start(file, titleInput.value.trim());
  form.reset();
  choose(null);
});

/** One upload: its own row with a progress bar, a status line and, at the end, a dismiss. */
function start(upload, title) {
  const name = title || upload.name;
  const bar = el("progress", { max: 100, value: 0, "aria-label": `Uploading ${name}` });
  const status = el("p", { class: "transfer-status" }, "Starting upload…");
  const cancel = el("button", { type: "button", class: "button small" }, "Cancel");
  const row = el(
    "li",
    { class: "transfer" },
    el("div", { class: "transfer-head" }, el("span", { class: "transfer-name" }, name), cancel),
    bar,
    status,
  );
  transfers.prepend(row);
  announce(`Uploading ${name}.`);

  const finish = (kind, text) => {
    row.classList.add(kind);
    status.textContent = text;
    if (kind === "error") status.setAttribute("role", "alert");
    bar.hidden = true;
    cancel.textContent = "Dismiss";
    cancel.setAttribute("aria-label", `Dismiss ${name}`);
    cancel.onclick = () => row.remove();
  };

  const { promise, abort } = uploadVideo(upload, title, (fraction, loaded, total) => {
    if (fraction === null) {
      bar.removeAttribute("value");
      status.textContent = `Uploading… ${bytes(loaded)}`;
    } else {
      bar.value = Math.round(fraction * 100);
      status.textContent = `Uploading… ${bar.value}% (${bytes(loaded)} of ${bytes(total)})`;
      if (fraction >= 1) status.textContent = "Uploaded. Checking the file…";
    }
  });
  cancel.onclick = () => abort();
  cancel.setAttribute("aria-label", `Cancel upload of ${name}`);

  promise.then(
    ({ status: code, body }) => {
      const video = update(body, { prepend: true });
      const label = videoTitle(video);
      row.dataset.videoId = video.id;
      cancel.textContent = "Dismiss";
      cancel.setAttribute("aria-label", `Dismiss ${label}`);
      cancel.onclick = () => row.remove();
      announce(`${label} uploaded; indexing has started.`);
      const follow = (v) => {
        if (isTerminal(v.status)) {
          bus.removeEventListener("video", onVideo);
          if (v.status === "ready") finish("done", code === 200 ? "Already in the library: ready." : "Ready.");
          else finish("error", `Indexing failed: ${v.error?.message || v.error || "unknown error"}`);
          return;
        }
        bar.setAttribute("aria-label", `Indexing ${label}`);
        const percent = Number(v.progress?.percent);
        if (Number.isFinite(percent)) bar.value = percent;
        else bar.removeAttribute("value");
        status.textContent = `Indexing: ${progressText(v)}`;
      };
      const onVideo = (e) => {
        if (e.detail.id === video.id) follow(e.detail);
      };
      bus.addEventListener("video", onVideo);
      bus.addEventListener("removed", (e) => {
        if (e.detail === video.id) {
          bus.removeEventListener("video", onVideo);
          row.remove();
        }
      });
      follow(video);
    },
    (error) => {
      if (error.type === "aborted") finish("error", "Upload cancelled.");
      else if (error.status >= 400) finish("error", `Rejected: ${error.describe()}`);
      else finish("error", `Upload failed: ${error.describe()}`);
    },
  );
}
