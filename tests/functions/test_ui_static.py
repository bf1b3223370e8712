"""The web UI's script treats API and URL values as data: text nodes only, encoded in paths.

A hash route like `#/jobs/..%2F..%2Fpolicies` decodes to an id with slashes; put into a request
path unencoded, the browser would normalise it into another API call made with the token.
"""

from __future__ import annotations

import re
from pathlib import Path

APP = (Path(__file__).resolve().parents[2] / "functions" / "ui" / "app.js").read_text()


def test_values_enter_the_page_as_text_only() -> None:
    assert "innerHTML" not in APP and "outerHTML" not in APP and "insertAdjacentHTML" not in APP
    assert "document.write" not in APP and "eval(" not in APP and "new Function" not in APP


def test_every_interpolated_path_segment_is_encoded() -> None:
    # request paths and hash links: `/jobs/${…}`, `#/jobs/${…}`, `/leaderboards/${…}`, …
    segments = re.findall(r"`[#]?/(?:jobs|leaderboard|leaderboards|projects)/[^`]*`", APP)
    assert segments, "no path templates found: the check would pass vacuously"
    raw = [s for s in segments if re.search(r"/\$\{(?!enc\(|encodeURIComponent\()", s)]
    assert raw == [], f"unencoded path segments: {raw}"


def test_no_inline_script_or_style_the_csp_would_block() -> None:
    index = (Path(__file__).resolve().parents[2] / "functions" / "ui" / "index.html").read_text()
    assert "<style" not in index and "style=" not in index and "onclick" not in index
    assert re.findall(r"<script[^>]*>", index) == ['<script src="app.js">']
    # a style attribute set from script (`h(tag, {style: …})` is setAttribute) is inline style too;
    # `element.style.x = …` (CSSOM) is what the CSP allows
    assert re.findall(r"""\bstyle:\s*["'`]|setAttribute\(\s*["']style""", APP) == []
