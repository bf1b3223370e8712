"""What every request and response passes: a body cap taken before anything reads the body,
and the security headers of a page that holds a token.

Both are plain ASGI middleware, so they cost a header look-up and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "SecurityHeaders"]

Json = dict[str, Any]


class BodyTooLarge(BaseException):
    """The request body went past the cap while it was being read. A BaseException on purpose:
    the app's body parsing turns any Exception into its own 400, and this must reach the cap."""


def too_large_body(max_bytes: int) -> Json:
    """The 413 answer, in the API's error shape."""
    message = f"the request body is over {max_bytes} bytes; send a smaller job or policy"
    return {"detail": "request body too large", "errors": [{"pointer": "", "message": message}]}


class BodyLimit:
    """Refuses a body over `max_bytes` with 413: at once on its Content-Length, or, for a body of
    unknown length, as soon as the bytes read pass the cap (nothing past it is buffered). It
    runs before any route, so also before the webhook's credentials are checked."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _answer(send, 413, too_large_body(self.max_bytes))
            return
        seen, started = 0, False

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped, watched)
        except BodyTooLarge:
            if started:  # an app that answers before reading its body: nothing left to say
                return
            await _answer(send, 413, too_large_body(self.max_bytes))


async def _answer(send: Send, status: int, body: Json) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds the headers above to every response: the UI keeps an API token in the browser, so
    no third-party script, no framing, no content sniffing, no referrer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
