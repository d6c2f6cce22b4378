"""Ask the LMM about the clips, adapting the request to the server it meets.

- A server whose model has no vision refuses frames, each in its own words (or, like
  llama-cpp-python, ends the stream before its first event). With `vision=auto` that answer is
  asked again once as text only, and when that works the server is remembered as text-only for
  the life of the process (a log line says so). Another refusal of a request with frames ("at
  most 12 images") is also retried once as text, but teaches nothing. `vision=false` never
  sends frames; `vision=true` never drops them.
- A prompt beyond the model's context (the server says so, or names its window) is asked again
  once with half the clips, fitted into the window the server named (remembered too) or into
  half the estimated prompt. If that fails as well, the error is `LMMContextOverflow` and says
  how large the prompts were.

Only failures before the first word of the answer are adapted to; after it, the error is raised
(text already shown cannot be taken back)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field

from app.answer.lmm import (
    LMMBadResponse,
    LMMClient,
    LMMContextOverflow,
    LMMEmptyStream,
    LMMError,
    LMMImagesRefused,
    LMMUnavailable,
    StreamInfo,
)
from app.answer.prompt import Prompt, build_prompt
from app.answer.settings import LMMSettings
from indexer.store import Library
from indexer.types import Hit

log = logging.getLogger("vidrag.answer")


@dataclass
class ServerTraits:
    """What the gateway learned about the LMM server by asking it."""

    vision: bool | None = None  # None: not known yet
    context_tokens: int | None = None  # the window a refusal named


@dataclass
class Shape:
    """How a prompt is built: with frames or not, the window it fits, how many clips at most."""

    vision: bool
    context_tokens: int
    max_clips: int | None = None


@dataclass
class Attempt:
    """The state of one answer: the prompt that was (last) sent, what the stream said besides
    its text, what was adapted, and the time spent building prompts."""

    prompt: Prompt | None = None
    info: StreamInfo = field(default_factory=StreamInfo)
    adapted: list[str] = field(default_factory=list)
    prompt_ms: float = 0.0


def diagnose(error: LMMError, prompt: Prompt) -> str | None:
    """ "images", "context" or None: what a failure before the answer began says to change."""
    if isinstance(error, LMMImagesRefused):
        return "images"
    if isinstance(error, LMMContextOverflow):
        return "context"
    if isinstance(error, LMMEmptyStream):
        # llama-cpp-python cannot render a list of content parts, and says nothing either way
        return "images" if prompt.vision else "context"
    if isinstance(error, LMMUnavailable | LMMBadResponse):
        return None
    # any other refusal of a request with frames: text only is worth one try
    return "images" if prompt.vision else None


class AdaptiveAsker:
    """Streams the LMM's answer to a question over hits (see module). One per Answerer: the
    traits it learns hold for every later answer."""

    def __init__(self, settings: LMMSettings, library: Library, client: LMMClient) -> None:
        self.settings, self.library, self.client = settings, library, client
        self.traits = ServerTraits()

    def vision(self) -> bool:
        if self.settings.vision != "auto":
            return self.settings.vision == "true"
        return self.traits.vision is not False

    def context_tokens(self) -> int:
        learned = self.traits.context_tokens
        ctx = self.settings.context_tokens
        return min(ctx, learned) if learned else ctx

    async def _prompt(
        self,
        attempt: Attempt,
        question: str,
        hits: Sequence[Hit],
        titles: Mapping[str, str],
        shape: Shape,
    ) -> Prompt:
        t0 = time.perf_counter()
        # reading and resizing frames is file I/O and CPU: keep it off the event loop
        prompt = await asyncio.to_thread(
            build_prompt,
            question,
            hits,
            titles,
            self.library,
            self.settings,
            vision=shape.vision,
            context_tokens=shape.context_tokens,
            max_clips=shape.max_clips,
        )
        attempt.prompt_ms += (time.perf_counter() - t0) * 1000
        attempt.prompt = prompt
        return prompt

    async def stream(
        self, question: str, hits: Sequence[Hit], titles: Mapping[str, str], attempt: Attempt
    ) -> AsyncGenerator[str, None]:
        """The answer's text as it arrives. Raises LMMError (see module)."""
        shape = Shape(self.vision(), self.context_tokens())
        tried: set[str] = set()
        while True:
            prompt = await self._prompt(attempt, question, hits, titles, shape)
            started = False
            try:
                chunks = self.client.stream_chat(prompt.request, attempt.info)
                # aclosing: a client that goes away closes the LMM request too (vLLM then stops)
                async with contextlib.aclosing(chunks) as texts:
                    async for text in texts:
                        started = True
                        yield text
            except LMMError as e:
                if started:
                    raise
                kind = diagnose(e, prompt)
                if kind == "images" and "images" not in tried and self.settings.vision == "auto":
                    tried.add("images")
                    if isinstance(e, LMMImagesRefused | LMMEmptyStream):
                        tried.add("no vision")  # the server's own words: learn from them
                    attempt.adapted.append(f"sent without frames after: {e.message}")
                    shape.vision = False
                    continue
                if kind == "context" and "context" not in tried:
                    tried.add("context")
                    shape = self._smaller(e, prompt, shape.vision)
                    attempt.adapted.append(
                        f"sent with {shape.max_clips} clip(s) in {shape.context_tokens} tokens "
                        f"after: {e.message}"
                    )
                    continue
                if kind == "context":
                    raise LMMContextOverflow(
                        f"the prompt did not fit the server's context with {len(prompt.clips)} "
                        f"clip(s) in ~{prompt.estimated_tokens} tokens either "
                        f"(VIDRAG_LMM__MAX_CONTEXT_TOKENS is {self.settings.context_tokens}): "
                        f"{e.message}",
                        getattr(e, "limit", None),
                    ) from e
                raise
            self._learn(tried, prompt)
            return

    def _smaller(self, error: LMMError, prompt: Prompt, vision: bool) -> Shape:
        limit = error.limit if isinstance(error, LMMContextOverflow) else None
        if limit and limit < self.context_tokens():
            self.traits.context_tokens = limit
            log.warning("LMM server's context is %d tokens; prompts are fitted to it", limit)
            ctx = limit
        else:  # the window is unknown: half the prompt
            ctx = self.settings.max_tokens + prompt.estimated_tokens // 2
        return Shape(vision, max(256, ctx), max(1, len(prompt.clips) // 2))

    def _learn(self, tried: set[str], prompt: Prompt) -> None:
        if self.settings.vision != "auto":
            return
        if "no vision" in tried and self.traits.vision is not False:
            self.traits.vision = False
            log.warning("LMM server takes no images: sending clips as text from now on")
        elif prompt.images:
            self.traits.vision = True
