"""Settings of the answering step: where the LMM is, how long to wait for it, and how much of the
retrieved material one request may carry.

Nested in the gateway's settings as `lmm`, so every field reads from `VIDRAG_LMM__<FIELD>`:

    VIDRAG_LMM__BASE_URLS=http://vllm-a:8000/v1,http://vllm-b:8000/v1   (or a JSON list)
    VIDRAG_LMM__MODEL=Qwen/Qwen2.5-VL-7B-Instruct
    VIDRAG_LMM__MAX_IMAGES=12

`max_images` is also the number vLLM must be started with (`--limit-mm-per-prompt`): vLLM refuses
a request carrying more images than that, so `vllm_args()` derives the server flags from these
settings, and the compose file's test checks that it agrees.

A text-only model (llama.cpp, Ollama or vLLM serving a model without vision) gets each clip's
timestamped evidence as plain text: `VIDRAG_LMM__VISION=false`, or `auto` (the default), which
sends frames until the server refuses them and then, having retried that answer without them,
sends text only for the life of the process. Every prompt is fitted into `max_context_tokens`
(the model's context window, by default `max_model_len`) with room for `max_tokens` of answer."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode


class LMMSettings(BaseModel):
    """The OpenAI-compatible LMM server (vLLM) and the budgets of one answer request."""

    # --- the server ------------------------------------------------------------------------------
    # OpenAI-style base URLs ending in `/v1`, tried in order (failover); empty: no LMM, answers
    # are extractive
    base_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    model: str = "Qwen/Qwen2.5-VL-7B-Instruct"
    api_key: SecretStr | None = None  # vLLM's `--api-key`, sent as a bearer token
    connect_timeout_s: float = 3.0
    # longest silence between two bytes of the reply; it bounds the time to the first token
    read_timeout_s: float = 60.0
    # deadline of one answer, retries and failover included: the gateway never waits longer
    total_timeout_s: float = 120.0
    retries: int = 2  # extra attempts per base URL on 429, 5xx and timeouts
    backoff_base_s: float = 0.5  # first retry delay; doubles per retry, with jitter
    backoff_max_s: float = 8.0  # cap of one backoff delay (a server's Retry-After wins if longer)

    # --- the request -----------------------------------------------------------------------------
    max_clips: int = 6  # clips sent to the model (the best ranked of the retrieved hits)
    frames_per_clip: int = 2
    max_images: int = 12  # images per request: must not exceed vLLM's --limit-mm-per-prompt
    image_max_side: int = 448  # px; frames are downscaled to this before encoding
    jpeg_quality: int = 80
    text_chars_per_clip: int = 1200  # speech + on-screen text + objects of one clip
    max_tokens: int = 512
    temperature: float = 0.1
    stop: Annotated[list[str], NoDecode] = Field(default_factory=list)  # stop sequences, if any
    # frames as images: "true", "false" (text-only model), "auto" (until the server refuses them)
    vision: Literal["auto", "true", "false"] = "auto"
    # the model's context window in tokens (prompt + answer); empty: max_model_len
    max_context_tokens: int | None = None
    image_tokens: int = 300  # what one frame costs in the prompt (Qwen2.5-VL, 448 px: ~256)
    stream_usage: bool = True  # ask for token counts at the end of the stream (stream_options)

    # --- the vLLM server these budgets need ------------------------------------------------------
    max_model_len: int = 16384  # vLLM --max-model-len: prompt (images included) + answer

    @field_validator("base_urls", mode="before")
    @classmethod
    def _url_list(cls, v: object) -> object:
        # accept a JSON list or a comma-separated string from the environment
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [p.strip() for p in text.split(",") if p.strip()]
        return v

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, v: object) -> object:
        if isinstance(v, str):  # a JSON list, or one stop sequence
            return json.loads(v) if v.strip().startswith("[") else [v]
        return v

    @field_validator("vision", mode="before")
    @classmethod
    def _vision_word(cls, v: object) -> object:
        if isinstance(v, bool):
            return "true" if v else "false"
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("base_urls")
    @classmethod
    def _strip_slash(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"LMM base URL must be http(s): {url!r}")
        return [u.rstrip("/") for u in v]

    @field_validator(
        "max_images", "max_clips", "frames_per_clip", "image_max_side", "max_tokens", "image_tokens"
    )
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must not be negative")
        return v

    @field_validator("max_context_tokens")
    @classmethod
    def _room_for_a_prompt(cls, v: int | None) -> int | None:
        if v is not None and v < 256:
            raise ValueError("must be at least 256 tokens")
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.base_urls)

    @property
    def context_tokens(self) -> int:
        """The context window prompts are fitted into."""
        return self.max_context_tokens or self.max_model_len

    def limit_mm_per_prompt(self) -> dict[str, int]:
        """What vLLM's `--limit-mm-per-prompt` must allow for the requests these settings build
        (images only: frames are sent as images, never as a video item)."""
        return {"image": self.max_images, "video": 0}

    def vllm_args(self) -> list[str]:
        """The `vllm serve` flags that make the server accept what the gateway sends."""
        return [
            "--limit-mm-per-prompt",
            json.dumps(self.limit_mm_per_prompt(), separators=(",", ":")),
            "--max-model-len",
            str(self.max_model_len),
        ]
