"""Token counts of a chat request, estimated without the model's tokenizer (the gateway does not
know which model the server runs), on the high side so that a fitted prompt fits.

BPE tokenizers give English about 4 bytes a token and CJK about one character (3 bytes); digits
are often one token each (Qwen splits every digit), and timestamps are mostly digits. So: one
token per digit, one per 3 bytes of the rest, and a fixed overhead per message for the chat
template's role markers. tests/answer/test_llama_server.py checks the estimate against the
token count a real llama.cpp server reports."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 12  # role markers and separators of one chat message
REQUEST_OVERHEAD = 16  # the template's start and the assistant header


def estimate(text: str) -> int:
    """Tokens `text` may take, on the high side."""
    digits = sum(c.isdigit() for c in text)
    rest = len(text.encode("utf-8")) - digits
    return digits + math.ceil(rest / BYTES_PER_TOKEN)


def fit(text: str, tokens: int) -> str:
    """`text` cut (at a word, marked with "…") so that `estimate` is at most `tokens`."""
    if estimate(text) <= tokens:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits, with its ellipsis
        mid = (lo + hi + 1) // 2
        if estimate(text[:mid].rstrip() + "…") <= tokens:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    if " " in cut and lo < len(text) and not text[lo].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…" if cut.strip() else ""


def content_tokens(content: str | Iterable[Mapping[str, Any]], image_tokens: int) -> int:
    if isinstance(content, str):
        return estimate(content)
    total = 0
    for part in content:
        total += estimate(part["text"]) if part.get("type") == "text" else image_tokens
    return total


def request_tokens(messages: Iterable[Mapping[str, Any]], image_tokens: int) -> int:
    """The prompt tokens of a chat request's messages (images at `image_tokens` each)."""
    return REQUEST_OVERHEAD + sum(
        MESSAGE_OVERHEAD + content_tokens(m["content"], image_tokens) for m in messages
    )
