// Messages for people: errors stay visible (role=alert) until dismissed; status lines are
// announced politely to screen readers.

import { el } from "./util.js";

const box = document.getElementById("messages");
const live = document.getElementById("live");

/** Shows an error (an ApiError or any Error) with what was being done. */
export function report(error, doing) {
  const detail = typeof error?.describe === "function" ? error.describe() : String(error?.message || error);
  const text = doing ? `${doing}: ${detail}` : detail;
  // the same message twice in a row (a poll failing again) is shown once
  if (box.lastElementChild?.dataset.text === text) return;
  const item = el(
    "div",
    { class: "message error", role: "alert", dataset: { text, type: error?.type || "" } },
    el("p", {}, text),
    el(
      "button",
      {
        type: "button",
        class: "icon-button",
        "aria-label": "Dismiss message",
        onclick: () => item.remove(),
      },
      "×",
    ),
  );
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
}

export function clearMessages() {
  box.replaceChildren();
}

/** A polite status line for screen readers (progress milestones, results). */
export function announce(text) {
  live.textContent = "";
  // a new text node after a tick, so the same sentence twice is still announced
  setTimeout(() => {
    live.textContent = text;
  }, 50);
}
