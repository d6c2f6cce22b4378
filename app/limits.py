"""Bounds on every request body: how large it may say it is, how large it may turn out to be,
and how long the client may take between two pieces of it.

A body that declares more than its route's limit (`Content-Length`) is refused with 413 before
the route runs; one that sends more than the limit without declaring it (chunked) is cut off at
the limit (an upload by the upload reader itself); a client that stalls mid-body for longer
than `body_timeout_s` gets 408 and its connection back — so 1,000 stalled uploads cannot
hold 1,000 temp files and workers forever. Uploads (`POST /v1/videos` multipart) get the
upload limit; every other body the JSON limit."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import UploadTooLarge, error_response


class BodyLimits:
    """Pure ASGI middleware (streamed responses pass through untouched)."""

    def __init__(
        self, app: ASGIApp, *, upload_bytes: int, other_bytes: int, body_timeout_s: float
    ) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.other_bytes = other_bytes
        self.body_timeout_s = body_timeout_s

    @staticmethod
    def _is_upload(scope: Scope) -> bool:
        return scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/videos"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = self._is_upload(scope)
        limit = self.upload_bytes if upload else self.other_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        # no int() on a header of any length: more digits than the limit has is too large
        if declared.isdigit() and (len(declared) > 19 or int(declared) > limit):
            response = error_response(
                413, UploadTooLarge.type, f"the body may be at most {limit} bytes"
            )
            await response(scope, receive, send)
            return
        seen = 0
        refused = False
        body_done = False

        async def refuse(status: int, type_: str, message: str) -> Message:
            # answer here: the app would turn an exception raised while it reads the body into
            # a parse error. It then sees a disconnect, and whatever it sends is dropped.
            nonlocal refused
            refused = True
            await error_response(status, type_, message)(scope, receive, send)
            return {"type": "http.disconnect"}

        async def bounded_receive() -> Message:
            nonlocal seen, body_done
            if refused:
                return {"type": "http.disconnect"}
            if body_done:  # a streamed response waiting for the client to leave: no timeout
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                wait = f"{self.body_timeout_s:g}"
                return await refuse(
                    408, "request_timeout", f"no part of the body came for {wait} s"
                )
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                # an upload's own reader counts the file as it streams it to disk and refuses it
                # cleanly (it knows the multipart envelope); other bodies are cut off here
                if seen > limit and not upload:
                    return await refuse(
                        413, UploadTooLarge.type, f"the body may be at most {limit} bytes"
                    )
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, bounded_receive, guarded_send)
