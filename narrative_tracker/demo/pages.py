"""The demo outlets' web pages and feeds: article pages with real-looking boilerplate, home pages,
RSS 2.0 and Atom feeds. Every text is escaped; every link is absolute on the news web."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from html import escape

from narrative_tracker.demo.outlets import Outlet
from narrative_tracker.demo.world import DemoArticle

#: Boilerplate words per language: navigation, side bars, footers.
CHROME: dict[str, dict[str, str | tuple[str, ...]]] = {
    "en": {
        "nav": ("Home", "World", "Politics", "Economy", "Culture", "Sport", "Science", "Opinion"),
        "by": "By",
        "most_read": "Most read",
        "latest": "Latest news",
        "comments": "Comments are closed for this article.",
        "share": "Share this article",
        "newsletter": "Sign up for our morning newsletter",
        "footer": ("About us", "Contact", "Privacy policy", "Cookie settings", "Advertise"),
        "rights": "All rights reserved.",
        "cookie": "We use cookies to improve your experience. By continuing you accept our cookie policy.",
    },
    "fr": {
        "nav": ("Accueil", "International", "Politique", "Économie", "Culture", "Sports", "Sciences", "Opinions"),
        "by": "Par",
        "most_read": "Les plus lus",
        "latest": "Dernières actualités",
        "comments": "Les commentaires sont fermés pour cet article.",
        "share": "Partager cet article",
        "newsletter": "Inscrivez-vous à notre lettre du matin",
        "footer": ("Qui sommes-nous", "Contact", "Confidentialité", "Gestion des cookies", "Publicité"),
        "rights": "Tous droits réservés.",
        "cookie": "Nous utilisons des cookies pour améliorer votre expérience. "
        "En poursuivant, vous acceptez notre politique.",
    },
    "ru": {
        "nav": ("Главная", "Мир", "Политика", "Экономика", "Культура", "Спорт", "Наука", "Мнения"),
        "by": "Автор:",
        "most_read": "Самое читаемое",
        "latest": "Последние новости",
        "comments": "Комментарии к этой статье закрыты.",
        "share": "Поделиться",
        "newsletter": "Подпишитесь на утреннюю рассылку",
        "footer": ("О нас", "Контакты", "Политика конфиденциальности", "Настройки cookie", "Реклама"),
        "rights": "Все права защищены.",
        "cookie": "Мы используем файлы cookie. Продолжая, вы соглашаетесь с нашей политикой.",
    },
}


def _header(outlet: Outlet, base_url: str) -> str:
    chrome = CHROME[outlet.lang]
    links = "".join(f'<li><a href="{base_url}{outlet.prefix}/">{escape(item)}</a></li>' for item in chrome["nav"])
    return (
        f'<div class="cookie-banner">{escape(str(chrome["cookie"]))}</div>'
        f'<header class="site-header"><a class="logo" href="{base_url}{outlet.prefix}/">{escape(outlet.name)}</a>'
        f'<span class="tagline">{escape(outlet.tagline)} · {escape(outlet.domain)}</span>'
        f"<nav><ul>{links}</ul></nav></header>"
    )


def _footer(outlet: Outlet, year: int) -> str:
    chrome = CHROME[outlet.lang]
    links = " · ".join(f'<a href="#">{escape(item)}</a>' for item in chrome["footer"])
    return (
        f'<footer class="site-footer"><p>{links}</p>'
        f"<p>© {year} {escape(outlet.name)} ({escape(outlet.domain)}). {escape(str(chrome['rights']))}</p></footer>"
    )


def _link_list(articles: Sequence[DemoArticle], base_url: str) -> str:
    return "".join(f'<li><a href="{base_url}{a.path}">{escape(a.text.title)}</a></li>' for a in articles)


def article_page(article: DemoArticle, base_url: str, related: Sequence[DemoArticle]) -> bytes:
    """The HTML page of one article, with the boilerplate an extractor must see past."""
    outlet, text = article.outlet, article.text
    chrome = CHROME[outlet.lang]
    url = f"{base_url}{article.path}"
    stamp = article.published.isoformat(timespec="seconds")
    shown = article.published.strftime("%d.%m.%Y %H:%M")
    lede, *body = text.paragraphs
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body)
    html = (
        f'<!DOCTYPE html><html lang="{outlet.lang}"><head><meta charset="{outlet.charset}">'
        f"<title>{escape(text.title)} | {escape(outlet.name)}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="description" content="{escape(lede)}">'
        f'<meta name="author" content="{escape(article.author)}">'
        f'<meta property="og:type" content="article"><meta property="og:title" content="{escape(text.title)}">'
        f'<meta property="og:site_name" content="{escape(outlet.name)}">'
        f'<meta property="article:published_time" content="{stamp}">'
        f'<meta property="article:section" content="{escape(text.section)}">'
        f'<link rel="canonical" href="{url}">'
        f'<link rel="alternate" type="application/{"rss" if outlet.feed_format == "rss" else "atom"}+xml" '
        f'href="{base_url}{outlet.feed_path}">'
        f"</head><body>{_header(outlet, base_url)}"
        f'<main><div class="story-head"><p class="kicker">{escape(text.section)}</p>'
        f"<h1>{escape(text.title)}</h1>"
        f'<p class="byline">{escape(str(chrome["by"]))} {escape(article.author)} · '
        f'<time datetime="{stamp}">{shown}</time></p></div>'
        f'<article class="story"><div class="story-body">'
        f'<p class="lede"><strong>{escape(lede)}</strong></p>{paragraphs}</div>'
        f'<div class="share">{escape(str(chrome["share"]))}</div></article>'
        f'<aside class="most-read"><h2>{escape(str(chrome["most_read"]))}</h2><ol>{_link_list(related, base_url)}</ol>'
        f'<p class="newsletter">{escape(str(chrome["newsletter"]))}</p></aside>'
        f'<section class="comments"><p>{escape(str(chrome["comments"]))}</p></section></main>'
        f"{_footer(outlet, article.published.year)}</body></html>"
    )
    return html.encode(outlet.charset, errors="xmlcharrefreplace")


def home_page(outlet: Outlet, articles: Sequence[DemoArticle], base_url: str, now: datetime) -> bytes:
    chrome = CHROME[outlet.lang]
    latest = list(reversed(articles[-40:]))
    html = (
        f'<!DOCTYPE html><html lang="{outlet.lang}"><head><meta charset="{outlet.charset}">'
        f"<title>{escape(outlet.name)}</title></head><body>{_header(outlet, base_url)}"
        f'<main><h1>{escape(str(chrome["latest"]))}</h1><ul class="latest">{_link_list(latest, base_url)}</ul></main>'
        f"{_footer(outlet, now.year)}</body></html>"
    )
    return html.encode(outlet.charset, errors="xmlcharrefreplace")


def rss_feed(outlet: Outlet, articles: Sequence[DemoArticle], base_url: str, now: datetime) -> bytes:
    """RSS 2.0, newest first, every item listed (so that one crawl collects the whole history)."""
    items = []
    for article in reversed(articles):
        url = f"{base_url}{article.path}"
        items.append(
            f"<item><title>{escape(article.text.title)}</title><link>{url}</link>"
            f'<guid isPermaLink="true">{url}</guid><pubDate>{format_datetime(article.published)}</pubDate>'
            f"<description>{escape(article.text.paragraphs[0])}</description>"
            f"<category>{escape(article.text.section)}</category>"
            f"<dc:creator>{escape(article.author)}</dc:creator></item>"
        )
    feed = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>{escape(outlet.name)}</title><link>{base_url}{outlet.prefix}/</link>"
        f"<description>{escape(outlet.tagline)}</description><language>{outlet.lang}</language>"
        f"<lastBuildDate>{format_datetime(now)}</lastBuildDate>"
        f'<atom:link href="{base_url}{outlet.feed_path}" rel="self" type="application/rss+xml"/>'
        f"{''.join(items)}</channel></rss>"
    )
    return feed.encode("utf-8")


def atom_feed(outlet: Outlet, articles: Sequence[DemoArticle], base_url: str, now: datetime) -> bytes:
    """Atom 1.0, newest first, every entry listed."""
    entries = []
    for article in reversed(articles):
        url = f"{base_url}{article.path}"
        stamp = article.published.isoformat(timespec="seconds")
        entries.append(
            f"<entry><title>{escape(article.text.title)}</title>"
            f'<link rel="alternate" type="text/html" href="{url}"/>'
            f"<id>tag:{outlet.domain},{article.published:%Y-%m-%d}:{escape(article.path)}</id>"
            f"<published>{stamp}</published><updated>{stamp}</updated>"
            f"<author><name>{escape(article.author)}</name></author>"
            f'<category term="{escape(article.text.section)}"/>'
            f'<summary type="text">{escape(article.text.paragraphs[0])}</summary></entry>'
        )
    updated = (articles[-1].published if articles else now).isoformat(timespec="seconds")
    feed = (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{outlet.lang}">'
        f"<title>{escape(outlet.name)}</title><subtitle>{escape(outlet.tagline)}</subtitle>"
        f'<link rel="alternate" type="text/html" href="{base_url}{outlet.prefix}/"/>'
        f'<link rel="self" type="application/atom+xml" href="{base_url}{outlet.feed_path}"/>'
        f"<id>tag:{outlet.domain},2020:feed</id><updated>{updated}</updated>"
        f"{''.join(entries)}</feed>"
    )
    return feed.encode("utf-8")
