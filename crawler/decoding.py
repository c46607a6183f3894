"""Turning page bytes into text whatever the charset, declared or not.

Order: the Content-Type header, a byte-order mark, ``<meta charset>`` (WHATWG rules, through
w3lib), then for undeclared pages: UTF-8 if the bytes are valid UTF-8, else charset_normalizer's
guess (it tells windows-1251 from KOI8-R on Russian text), else windows-1252.
"""

from __future__ import annotations

import codecs

from w3lib.encoding import html_to_unicode

FALLBACK = "cp1252"


def _guess(body: bytes) -> str:
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    if best is not None:
        try:
            return codecs.lookup(best.encoding).name
        except LookupError:
            pass
    return FALLBACK


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, encoding used) for an HTML body; undecodable bytes become U+FFFD."""
    encoding, text = html_to_unicode(content_type, body, auto_detect_fun=_guess)
    return text, encoding
