"""Rendering a digest as HTML (file or email), plain text, Markdown, JSON and a webhook message.

HTML goes through Jinja2 with autoescape on and a ``finalize`` hook that applies
``safety.html_text`` to every expression, so a template cannot forget to escape a crawled
string. Charts are PNGs: ``data:`` URIs in the file version, ``cid:`` references to inline MIME
parts in the email; there is no other image, script, stylesheet or font, local or remote.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from narrative_tracker.trends.digest import safety
from narrative_tracker.trends.digest.content import AlertView, Digest

TEMPLATES = Path(__file__).parent / "templates"

KIND_TITLES = {
    "crossover": "Crossover",
    "spike": "Spike",
    "new-outlet": "New outlet",
    "source-health": "Source health",
}


def _finalize(value: Any) -> Any:
    return "" if value is None else value


@cache
def _environment(kind: str) -> Environment:
    if kind == "html":
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            finalize=lambda value: safety.html_text(_finalize(value)),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    else:
        # Text formats: Jinja's autoescape is off; the Markdown template escapes with |md explicitly.
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=False,  # noqa: S701 - not HTML; each text format escapes in its own way
            undefined=StrictUndefined,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    env.filters["md"] = safety.markdown_text
    env.filters["flat"] = safety.plain_text
    env.filters["safe_url"] = safety.safe_url
    env.filters["md_url"] = safety.markdown_url
    env.filters["pct"] = _percent
    env.globals["kind_title"] = lambda kind: KIND_TITLES.get(kind, kind)
    return env


def _percent(value: float | None) -> str:
    """A 7-day change; "n/a" when the 7 days before had nothing to compare with."""
    return "n/a" if value is None else f"{value:+.0f}%"


def _context(digest: Digest, image_src: dict[str, Any]) -> dict[str, Any]:
    return {"d": digest, "notes": digest.notes, "images": image_src}


def render_html(digest: Digest, *, for_email: bool = False) -> str:
    """The HTML digest; charts as ``cid:`` references for an email, as ``data:`` URIs for a file."""
    if for_email:
        images = {name: Markup(f"cid:{name}") for name in digest.charts}  # noqa: S704 - our own chart names
    else:
        images = {
            name: Markup("data:image/png;base64," + base64.b64encode(png).decode("ascii"))  # noqa: S704
            for name, png in digest.charts.items()
        }
    return _environment("html").get_template("digest.html.j2").render(_context(digest, images))


def render_text(digest: Digest) -> str:
    return _environment("text").get_template("digest.txt.j2").render(_context(digest, {}))


def render_markdown(digest: Digest) -> str:
    return _environment("text").get_template("digest.md.j2").render(_context(digest, {}))


def _safe_json(data: Any) -> Any:
    """Drop every URL that is not http(s), so no consumer of the JSON can be handed a script link."""
    if isinstance(data, dict):
        return {k: (safety.safe_url(v) if k == "url" else _safe_json(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [_safe_json(v) for v in data]
    return data


def render_json(digest: Digest) -> str:
    """The digest as JSON; ``<``, ``>`` and ``&`` written as escapes so it can be embedded anywhere."""
    text = json.dumps(_safe_json(digest.as_json()), ensure_ascii=False, indent=2, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def webhook_payload(digest: Digest) -> dict[str, Any]:
    """A Slack-compatible message: ``text`` in mrkdwn, plus the structured digest under ``digest``."""
    lines = [f"*Narrative Tracker digest {digest.day.isoformat()}*: {len(digest.alerts)} alerts"]
    lines += _slack_alerts(digest.alerts)
    if not digest.alerts:
        lines.append("No alerts today.")
    if digest.earlier and digest.earlier_day:
        lines.append(f"*Also on {digest.earlier_day.isoformat()}, after that day's digest*")
        lines += _slack_alerts(digest.earlier)
    return {"text": "\n".join(lines), "digest": _safe_json(digest.as_json())}


def _slack_alerts(alerts: list[AlertView]) -> list[str]:
    lines = []
    for alert in alerts:
        subject = alert.narrative_name or alert.narrative_id or alert.source or ""
        lines.append(f"• *{KIND_TITLES.get(alert.kind, alert.kind)}* {safety.slack_text(subject)}")
        lines.append(f"    {safety.slack_text(alert.reason)}")
        for article in alert.articles:
            url = safety.safe_url(article.url)
            title = safety.slack_text(article.title or "(untitled)").replace("|", "¦")
            link = f"<{safety.slack_text(url).replace('|', '%7C')}|{title}>" if url else title
            outlet, lang = safety.slack_text(article.outlet), safety.slack_text(article.lang)
            lines.append(f"    – {link} ({outlet}, {lang}, {article.stance})")
    return lines
