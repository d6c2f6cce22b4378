"""Client of an OpenAI-compatible chat server (vLLM's `vllm serve`), streaming only.

Every call is bounded: connect and read timeouts per request, and one deadline
(`total_timeout_s`) over all retries and replicas. 429, 408, 5xx, dropped connections and
timeouts are retried with exponential backoff and jitter (a `Retry-After` is honoured while the
deadline allows), then the next base URL is tried; requests start at the replicas in turn, so
several vLLM servers share the load. Once answer text has been handed out a failure is not
retried (the text cannot be taken back): it is raised.

Every failure is a domain error (see `protocol.py`) — `LMMUnavailable` (down, overloaded:
retries exhausted), `LMMTimeout`, `LMMBadResponse` (a malformed body or stream chunk),
`LMMEmptyStream` (a 200 stream that ended before its first event), `LMMContextOverflow` and
`LMMImagesRefused` (the server refused the prompt's size or its images: never retried, whatever
the status), `LMMError` (any other refusal) — never a silent `None`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from app.answer.protocol import (
    LMMBadResponse,
    LMMContextOverflow,
    LMMEmptyStream,
    LMMError,
    LMMImagesRefused,
    LMMNotConfigured,
    LMMTimeout,
    LMMUnavailable,
    error_message,
    parse_chunk,
    read_chunk,
    refusal,
    refusal_kind,
    retry_after_seconds,
)
from app.answer.settings import LMMSettings

__all__ = [
    "LMMBadResponse",
    "LMMClient",
    "LMMContextOverflow",
    "LMMEmptyStream",
    "LMMError",
    "LMMImagesRefused",
    "LMMNotConfigured",
    "LMMTimeout",
    "LMMUnavailable",
    "StreamInfo",
    "parse_chunk",
    "retry_after_seconds",
]

RETRY_STATUS = {408, 425, 429}  # plus every 5xx


class _Retryable(Exception):
    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        timeout: bool = False,
        refused: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason, self.retry_after, self.timeout, self.refused = (
            reason,
            retry_after,
            timeout,
            refused,
        )


@dataclass
class StreamInfo:
    """What a stream said besides its text: why it ended and, when the server counts them
    (`stream_options.include_usage`), its tokens."""

    finish_reason: str | None = None
    usage: dict[str, int] | None = None


class LMMClient:
    """Streams chat completions from the configured servers. Cheap to build; holds no
    connection between calls (each call opens its own, inside the caller's event loop)."""

    def __init__(
        self,
        settings: LMMSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._turn = itertools.count()

    def _client(self) -> httpx.AsyncClient:
        s = self.settings
        headers = {"Accept": "text/event-stream"}
        if s.api_key is not None:
            headers["Authorization"] = f"Bearer {s.api_key.get_secret_value()}"
        timeout = httpx.Timeout(
            connect=s.connect_timeout_s,
            read=s.read_timeout_s,
            write=s.read_timeout_s,
            pool=s.connect_timeout_s,
        )
        return httpx.AsyncClient(
            timeout=timeout,
            headers=headers,
            transport=self._transport,
            follow_redirects=False,
            trust_env=False,
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        s = self.settings
        delay = min(s.backoff_max_s, s.backoff_base_s * 2**attempt)
        delay *= 0.5 + self._rng.random() / 2
        return max(delay, retry_after) if retry_after is not None else delay

    def _order(self) -> list[str]:
        urls = self.settings.base_urls
        k = next(self._turn) % len(urls)
        return urls[k:] + urls[:k]

    async def stream_chat(
        self, request: dict[str, Any], info: StreamInfo | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield the answer's text as it arrives; `info`, when given, receives the finish reason
        and token usage. Raises an LMMError subclass (see module)."""
        s = self.settings
        if not s.base_urls:
            raise LMMNotConfigured("no LMM base URL configured")
        info = info if info is not None else StreamInfo()
        body = {**request, "stream": True}
        if s.stream_usage:
            body["stream_options"] = {"include_usage": True}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.total_timeout_s
        failures: list[str] = []
        timed_out = False
        urls = self._order()
        async with self._client() as client:
            for n, url in enumerate(urls):
                for attempt in range(s.retries + 1):
                    yielded = False
                    try:
                        attempt_ = self._attempt(client, url, body, deadline, info)
                        async with contextlib.aclosing(attempt_) as texts:
                            async for text in texts:
                                yielded = True
                                yield text
                        return
                    except _Retryable as e:
                        err = LMMTimeout if e.timeout else LMMUnavailable
                        if yielded:
                            raise err(
                                f"{url}: stream broke after the answer began: {e.reason}",
                            ) from e
                        failures.append(f"{url}: {e.reason}")
                        timed_out = e.timeout
                        if loop.time() >= deadline:
                            raise LMMTimeout(
                                f"no answer within {s.total_timeout_s:g}s: " + "; ".join(failures)
                            ) from e
                        if attempt == s.retries or (e.refused and n < len(urls) - 1):
                            break  # next replica
                        delay = self._backoff(attempt, e.retry_after)
                        if loop.time() + delay >= deadline:
                            break  # no time to wait here; another replica may still answer
                        await self._sleep(delay)
        err = LMMTimeout if timed_out else LMMUnavailable
        raise err("; ".join(failures))

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        url: str,
        body: dict[str, Any],
        deadline: float,
        info: StreamInfo,
    ) -> AsyncGenerator[str, None]:
        request = client.build_request("POST", f"{url}/chat/completions", json=body)
        try:
            # httpx bounds each connect and read; the deadline bounds the whole answer
            try:
                async with asyncio.timeout_at(deadline):
                    resp = await client.send(request, stream=True)
            except TimeoutError:
                raise _Retryable("no reply before the deadline", timeout=True) from None
            try:
                async with contextlib.aclosing(self._read(resp, url, deadline, info)) as texts:
                    async for text in texts:
                        yield text
            finally:
                await resp.aclose()
        except httpx.TimeoutException as e:
            raise _Retryable(f"{type(e).__name__} after {_timeout_of(e)}", timeout=True) from e
        except httpx.ConnectError as e:
            raise _Retryable(f"cannot connect: {e}", refused=True) from e
        except httpx.TransportError as e:  # reset, protocol error, closed mid-body
            raise _Retryable(f"{type(e).__name__}: {e}") from e

    async def _read(
        self, resp: httpx.Response, url: str, deadline: float, info: StreamInfo
    ) -> AsyncGenerator[str, None]:
        if resp.status_code != 200:
            try:
                async with asyncio.timeout_at(deadline):
                    detail = error_message(await resp.aread())
            except TimeoutError:
                detail = "(no body before the deadline)"
            reason = f"HTTP {resp.status_code}: {detail}"
            # a prompt too long or images refused: the same request would fail again
            if refusal_kind(detail) is None and (
                resp.status_code in RETRY_STATUS or resp.status_code >= 500
            ):
                after = retry_after_seconds(resp.headers.get("retry-after"))
                raise _Retryable(reason, retry_after=after)
            raise refusal(f"{url} refused the request: {reason}")
        ctype = resp.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            raise LMMBadResponse(f"{url}: expected an event stream, got {ctype!r}")
        lines = resp.aiter_lines()
        data: list[str] = []
        total = events = 0
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    line = await anext(lines)
            except StopAsyncIteration:
                if events == 0:
                    raise LMMEmptyStream(
                        f"{url}: the stream ended before its first event (the server failed "
                        "on the request without saying why)"
                    ) from None
                raise LMMBadResponse(f"{url}: stream ended without [DONE]") from None
            except TimeoutError:
                raise _Retryable("deadline passed while streaming", timeout=True) from None
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
                continue
            if line or not data:  # comments, other fields, keep-alive blank lines
                continue
            payload = "\n".join(data)  # a blank line ends the event
            data = []
            events += 1
            if payload.strip() == "[DONE]":
                if total == 0:
                    raise LMMBadResponse(f"{url}: empty answer")
                return
            chunk = read_chunk(payload)
            info.finish_reason = chunk.finish_reason or info.finish_reason
            info.usage = chunk.usage or info.usage
            text = chunk.text
            if text:
                total += len(text)
                yield text

    async def list_models(self) -> list[str]:
        """Model ids served by the first replica that answers `GET /models` (for readiness).
        Raises LMMUnavailable when none does, LMMBadResponse for a malformed list."""
        if not self.settings.base_urls:
            raise LMMNotConfigured("no LMM base URL configured")
        failures = []
        async with self._client() as client:
            for url in self.settings.base_urls:
                try:
                    resp = await client.get(f"{url}/models")
                except httpx.HTTPError as e:
                    failures.append(f"{url}: {type(e).__name__}: {e}")
                    continue
                if resp.status_code != 200:
                    failures.append(f"{url}: HTTP {resp.status_code}")
                    continue
                try:
                    return [m["id"] for m in resp.json()["data"]]
                except (ValueError, KeyError, TypeError) as e:
                    raise LMMBadResponse(f"{url}: malformed model list") from e
        raise LMMUnavailable("; ".join(failures))


def _timeout_of(e: httpx.TimeoutException) -> str:
    kind = {
        httpx.ConnectTimeout: "connect",
        httpx.ReadTimeout: "read",
        httpx.WriteTimeout: "write",
        httpx.PoolTimeout: "pool",
    }.get(type(e), "")
    return f"{kind} timeout".strip()
