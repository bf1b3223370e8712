"""W&B webhook signatures: HMAC-SHA256 of the raw body. (API bearer tokens: `functions.api.deps`.)"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac

__all__ = ["signature_valid"]


def signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    """True when `signature` is HMAC-SHA256(secret, body), base64 or hex (an optional `sha256=`)."""
    if not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    given = signature.strip().removeprefix("sha256=")
    candidates = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(given))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(given, validate=True))
    return any(hmac.compare_digest(expected, c) for c in candidates)
