// The HTTP API (contract v1): every call goes through here so the API key and the error
// envelope {"error": {"type", "message", "code"}} are handled in one place.

const KEY_STORAGE = "vidrag.apiKey";
const AUTH_TYPES = new Set([
  "unauthorized",
  "missing_api_key",
  "invalid_api_key",
  "authentication_error",
  "forbidden",
]);

/** Fired on window when the server asks for an API key (detail: the ApiError). */
export const AUTH_EVENT = "vidrag:auth-required";

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }

  get isAuth() {
    return this.status === 401 || AUTH_TYPES.has(this.type);
  }

  /** "Not a video: the file has no video stream (not_a_video, 415)". */
  describe() {
    const where = [this.type, this.status || null].filter(Boolean).join(", ");
    return where ? `${this.message} (${where})` : this.message;
  }
}

export function getKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return ""; // storage disabled: behave as if no key is set
  }
}

export function setKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: the key lives only as long as the page
  }
  memoryKey = key;
}

let memoryKey = "";
const currentKey = () => getKey() || memoryKey;

/** An absolute URL for an API path such as "v1/videos": relative to the page, so the page
 * works when the gateway is mounted under a prefix. */
export function apiUrl(path) {
  return new URL(path, document.baseURI).toString();
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  const key = currentKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

/** Builds an ApiError from a failed response's status and body text. */
export function errorFromBody(status, text, statusText = "") {
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (a proxy's HTML page, a bare text): fall through to the generic message
  }
  const err = body && typeof body === "object" ? body.error : null;
  if (err && typeof err === "object") {
    return new ApiError(status, err.type || "error", err.message || statusText || `HTTP ${status}`);
  }
  if (body && body.detail) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    return new ApiError(status, status >= 500 ? "server_error" : "bad_request", detail);
  }
  const plain = (text || "").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 200);
  const fallback = status >= 500 ? "The server failed to answer" : `Request failed`;
  return new ApiError(
    status,
    status >= 500 ? "server_error" : "http_error",
    plain || statusText || fallback,
  );
}

function raise(error) {
  if (error.isAuth) window.dispatchEvent(new CustomEvent(AUTH_EVENT, { detail: error }));
  throw error;
}

/** fetch() with the key; resolves to the Response when it is 2xx, else throws ApiError. */
export async function api(path, { method = "GET", json, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(apiUrl(path), init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network_error", "Cannot reach the server. Is it running?");
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    raise(errorFromBody(response.status, text, response.statusText));
  }
  return response;
}

export async function apiJson(path, options) {
  const response = await api(path, options);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** The list endpoint may answer a bare list or {"videos": [...]} / {"items": [...]}. */
export function videoList(body) {
  if (Array.isArray(body)) return body;
  for (const key of ["videos", "items", "data", "results"]) {
    if (body && Array.isArray(body[key])) return body[key];
  }
  return [];
}

/** Uploads with XMLHttpRequest, whose upload progress events fetch() lacks.
 * onProgress(fraction|null, loaded, total). Returns {promise, abort}; the promise resolves to
 * {status, body} and rejects with ApiError. */
export function uploadVideo(file, title, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", apiUrl("v1/videos"));
    for (const [name, value] of Object.entries(authHeaders({ Accept: "application/json" }))) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (e) => {
      onProgress(e.lengthComputable ? e.loaded / e.total : null, e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve({ status: xhr.status, body: JSON.parse(xhr.responseText) });
        } catch {
          reject(new ApiError(xhr.status, "bad_response", "The server's answer was not JSON"));
        }
        return;
      }
      try {
        raise(errorFromBody(xhr.status, xhr.responseText, xhr.statusText));
      } catch (e) {
        reject(e);
      }
    });
    xhr.addEventListener("error", () => {
      // a server that refuses a too-large body may close the connection before answering
      reject(
        new ApiError(0, "network_error", "The upload was interrupted: the connection closed."),
      );
    });
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "Upload cancelled")));
    const form = new FormData();
    form.append("file", file, file.name);
    if (title) form.append("title", title);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/** The player's source. A <video> cannot send headers, so with a key set it goes as the
 * `api_key` query parameter, which the gateway accepts for /media and /frames only. */
export function mediaUrl(id) {
  const url = new URL(`v1/videos/${encodeURIComponent(id)}/media`, document.baseURI);
  const key = currentKey();
  if (key) url.searchParams.set("api_key", key);
  return url.toString();
}

/** A thumbnail source near second t: the plain URL, or a blob URL fetched with the key
 * (the caller revokes blob: URLs). */
export async function frameSrc(id, t, signal) {
  const path = `v1/videos/${encodeURIComponent(id)}/frames/${Math.max(0, Math.floor(t))}`;
  if (!currentKey()) return apiUrl(path);
  const response = await api(path, { signal });
  return URL.createObjectURL(await response.blob());
}
