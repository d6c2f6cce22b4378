// vidrag's web page: wires the parts together, handles the API key and loads the library.

import { AUTH_EVENT, getKey, setKey } from "./api.js";
import "./ask.js";
import "./contents.js";
import { refresh } from "./library.js";
import { announce, clearMessages, report } from "./messages.js";
import "./upload.js";

const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("api-key");
const keyNote = document.getElementById("key-note");
const keyForget = document.getElementById("key-forget");

function showKeyForm(reason) {
  const wasHidden = keyForm.hidden;
  keyForm.hidden = false;
  if (reason) keyNote.textContent = reason;
  if (wasHidden) keyInput.focus();
}

// the key form appears only when the server asks for a key, or when one is already stored
window.addEventListener(AUTH_EVENT, (e) => {
  const error = e.detail;
  const why = getKey()
    ? `The server refused the saved key: ${error.message}`
    : "This server needs an API key.";
  keyInput.setAttribute("aria-invalid", "true");
  showKeyForm(why);
  report(error, "Not authorised");
});

keyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  setKey(keyInput.value.trim());
  keyInput.removeAttribute("aria-invalid");
  keyNote.textContent = keyInput.value.trim()
    ? "Key saved in this browser."
    : "No key is set.";
  clearMessages();
  announce("API key saved.");
  refresh();
});

keyForget.addEventListener("click", () => {
  setKey("");
  keyInput.value = "";
  keyNote.textContent = "Key removed from this browser.";
});

if (getKey()) {
  keyInput.value = getKey();
  keyForm.hidden = false;
  keyNote.textContent = "Using the key saved in this browser.";
}

refresh();
