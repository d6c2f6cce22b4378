"""The OpenAI chat protocol as the LMM client reads it: the domain errors, error bodies, stream
chunks (text, finish reason, token usage), `Retry-After`, and what a refusal is about.

Servers word the same refusals differently, so `refusal_kind` reads the message: a prompt beyond
the context window (vLLM and llama-cpp-python: "maximum context length is N tokens"; llama.cpp:
"exceeds the available context size"), or images sent to a model without vision (vLLM: "is not
a multimodal model"; llama.cpp: "image input is not supported"; Ollama: "does not support
images")."""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from indexer.errors import VidragError


class LMMError(VidragError):
    """The LMM server answered, but not with an answer (e.g. HTTP 400: too many images)."""

    type = "lmm_error"
    status = 502


class LMMUnavailable(LMMError):
    """No replica gave an answer: refused connections, 429/5xx after every retry."""

    type = "lmm_unavailable"
    status = 503


class LMMTimeout(LMMUnavailable):
    type = "lmm_timeout"
    status = 504


class LMMNotConfigured(LMMUnavailable):
    type = "lmm_not_configured"


class LMMBadResponse(LMMError):
    """The reply is not what the OpenAI protocol promises (malformed JSON, a chunk without
    choices, a stream without `[DONE]`, an empty answer)."""

    type = "lmm_bad_response"


class LMMEmptyStream(LMMBadResponse):
    """The server accepted the request and closed the stream without sending anything: what
    llama-cpp-python does when a streamed request fails (a prompt beyond its context, content
    its chat template cannot render)."""

    type = "lmm_empty_stream"


class LMMContextOverflow(LMMError):
    """The prompt does not fit the model's context window. `limit` is the window the server
    named, when it did."""

    type = "lmm_context_overflow"

    def __init__(self, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class LMMImagesRefused(LMMError):
    """The server's model takes no images."""

    type = "lmm_images_refused"


_CONTEXT = re.compile(
    r"context[ _](length|window|size)|maximum context|n_ctx|too many tokens|prompt is too long|"
    r"input is too long|reduce the length|exceeds? the (available )?context",
    re.IGNORECASE,
)
_CONTEXT_LIMIT = re.compile(
    r"(?:maximum context length is|context (?:window|size|length) (?:of|is)|n_ctx\D{0,10})\s*"
    r"(\d{3,7})",
    re.IGNORECASE,
)
_IMAGES = re.compile(
    r"multimodal|multi-modal|vision|mmproj|image input|image_url|does not support images?|"
    r"images? (?:is|are) not supported|not support(?:ed)? image",
    re.IGNORECASE,
)


def refusal_kind(message: str) -> str | None:
    """ "context", "images" or None: what a refusal's message says is wrong."""
    if _CONTEXT.search(message):
        return "context"
    if _IMAGES.search(message):
        return "images"
    return None


def context_limit(message: str) -> int | None:
    """The context window a refusal names ("maximum context length is 2048 tokens")."""
    m = _CONTEXT_LIMIT.search(message)
    return int(m.group(1)) if m else None


def refusal(message: str) -> LMMError:
    """The domain error for a refused request with this message."""
    kind = refusal_kind(message)
    if kind == "context":
        return LMMContextOverflow(message, context_limit(message))
    if kind == "images":
        return LMMImagesRefused(message)
    return LMMError(message)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:300]
    return str(data)[:300]


@dataclass
class Chunk:
    """What one streamed `chat.completion.chunk` carries."""

    text: str
    finish_reason: str | None = None
    usage: dict[str, int] | None = None


def _usage(obj: dict[str, Any]) -> dict[str, int] | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    counts = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    if not all(isinstance(v, int) for v in counts.values()):
        return None  # partial or malformed counts: the gateway estimates instead
    return {k: int(v) for k, v in counts.items() if isinstance(v, int)}


def read_chunk(data: str) -> Chunk:
    """One streamed chunk. Raises LMMBadResponse for anything that is not such a chunk and
    LMMError (or a refusal's subclass) for an error object the server sent mid-stream."""
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise LMMBadResponse(f"malformed stream chunk (not JSON): {data[:120]!r}") from e
    if not isinstance(obj, dict):
        raise LMMBadResponse(f"malformed stream chunk (not an object): {data[:120]!r}")
    if "error" in obj or obj.get("object") == "error":
        raise refusal(f"error in stream: {error_message(data.encode())}")
    choices = obj.get("choices")
    if not isinstance(choices, list):
        raise LMMBadResponse(f"malformed stream chunk (no choices): {data[:120]!r}")
    text, finish = [], None
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            raise LMMBadResponse(f"malformed stream chunk (no delta): {data[:120]!r}")
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            raise LMMBadResponse(f"malformed stream chunk (content): {data[:120]!r}")
        text.append(content or "")
        finish = choice.get("finish_reason") or finish
    return Chunk("".join(text), finish if isinstance(finish, str) else None, _usage(obj))


def parse_chunk(data: str) -> str:
    """The answer text of one streamed chunk (`""` for role-only, usage-only or final chunks)."""
    return read_chunk(data).text
