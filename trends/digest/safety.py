"""Making crawled strings inert in each output format.

Crawled titles, outlet names, evidence sentences and URLs are hostile. Each format gets its own
escaping, and more than is strictly needed so that even a naive scan of the output finds nothing
that looks active:

- HTML: entity-escaped (Jinja autoescape), then ``javascript:`` / ``vbscript:`` get their colon
  and ``on<event>=`` its equals sign as a character reference, so the raw text never reads as a
  scheme or a handler, even to a filter that ignores the HTML context.
- Markdown: every punctuation character with a Markdown meaning is backslash-escaped (``<`` and
  ``>`` as entities, so no raw tag text remains), line breaks
  are flattened (no injected headings or lists), and the same scheme/handler rewrite is applied.
- Plain text (and the webhook's text): control characters removed, whitespace flattened, script
  schemes defanged as ``javascript[:]`` so that no client turns them into links.
- Links: only absolute ``http``/``https`` URLs with a host are ever made into links.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from markupsafe import Markup, escape

# No word boundary on purpose: "xjavascript:" or "xonerror=" still contain what a naive scan looks for.
_SCHEME = re.compile(r"(?i)(java\s*script|vb\s*script|livescript)(\s*):")
_HANDLER = re.compile(r"(?i)(on[a-z]+)(\s*)=")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~&^$=\"'])")


def flatten(text: object) -> str:
    """One line: no control or bidi-override characters, runs of whitespace made single spaces."""
    return _SPACE.sub(" ", _CONTROL.sub("", str(text))).strip()


def plain_text(text: object) -> str:
    """Flattened, with script schemes defanged (``javascript[:]``) so no mail client links them."""
    return _SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}[:]", flatten(text))


def _defuse(escaped: str, colon: str, equals: str) -> str:
    escaped = _SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{colon}", escaped)
    return _HANDLER.sub(lambda m: f"{m.group(1)}{m.group(2)}{equals}", escaped)


def html_text(value: object) -> Markup:
    """Escape a value for HTML text or a quoted attribute."""
    if isinstance(value, Markup):
        return value
    return Markup(_defuse(str(escape(_CONTROL.sub("", str(value)))), "&#58;", "&#61;"))  # noqa: S704 - escaped above


def markdown_text(value: object) -> str:
    """Escape a value for Markdown text: it renders as itself and nothing else."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", flatten(value)).replace("<", "&lt;").replace(">", "&gt;")
    return _defuse(escaped, "&#58;", "&#61;")


def safe_url(url: object) -> str | None:
    """The URL if it is an absolute http(s) URL with a host (and no whitespace or control characters), else None."""
    if not isinstance(url, str) or not url or _CONTROL.search(url) or _SPACE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def markdown_url(url: str) -> str:
    """A safe URL made fit for ``[text](url)``: characters that could end or break the link
    percent-encoded, scheme-like and handler-like text inside it written as character references
    (which Markdown decodes in link destinations, so the link still leads to the same page)."""
    return _defuse(quote(url, safe=":/?#@!$&*+,;=%~-._"), "&#58;", "&#61;")


def slack_text(value: object) -> str:
    """Escape for Slack's mrkdwn ``text`` (``&``, ``<`` and ``>`` are its only control characters)."""
    return plain_text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
