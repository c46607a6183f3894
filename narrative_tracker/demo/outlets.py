"""The invented outlets of the demo world.

Every outlet is fictional: names, domains (reserved ``.example`` names, shown on the pages only)
and staff are made up. All of them are served by one local news web on 127.0.0.1, each under
its own path prefix, so each catalogue entry has ``domains = ["127.0.0.1"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeedFormat = Literal["rss", "atom"]


@dataclass(frozen=True)
class Outlet:
    slug: str
    name: str
    group: str
    country: str
    lang: str
    feed_format: FeedFormat
    #: The outlet's invented web address, printed in its page header and footer.
    domain: str
    #: Articles published on an ordinary day (news of every kind, narratives included).
    per_day: int
    tagline: str
    #: Encoding of the outlet's web pages (its feed is UTF-8); some Russian sites still use windows-1251.
    charset: str = "utf-8"

    @property
    def prefix(self) -> str:
        """Path under which the news web serves this outlet."""
        return f"/{self.slug}"

    @property
    def feed_path(self) -> str:
        return f"{self.prefix}/{'rss.xml' if self.feed_format == 'rss' else 'atom.xml'}"


OUTLETS: tuple[Outlet, ...] = (
    # Russian state media, in Russian, English and French.
    Outlet("vestnik-derzhavy", "Вестник Державы", "russian-state", "RU", "ru", "rss",
           "vestnik-derzhavy.example", 7, "Государственное информационное агентство"),
    Outlet("novy-kurs", "Новый курс", "russian-state", "RU", "ru", "atom",
           "novy-kurs.example", 6, "Ежедневная общественно-политическая газета", charset="windows-1251"),
    Outlet("eurasia-today", "Eurasia Today", "russian-state", "RU", "en", "atom",
           "eurasia-today.example", 6, "The other side of the story"),
    Outlet("horizon-eurasie", "Horizon Eurasie", "russian-state", "RU", "fr", "rss",
           "horizon-eurasie.example", 5, "L'information sans filtre occidental"),
    # Western outlets: two that check the framing, one that repeats it.
    Outlet("northern-chronicle", "The Northern Chronicle", "western", "GB", "en", "rss",
           "northern-chronicle.example", 7, "News and analysis since 1891"),
    Outlet("quotidien-du-rhone", "Le Quotidien du Rhône", "western", "FR", "fr", "atom",
           "quotidien-du-rhone.example", 6, "Le journal de référence de la vallée du Rhône"),
    Outlet("atlantic-courier", "The Atlantic Courier", "western", "US", "en", "rss",
           "atlantic-courier.example", 5, "Opinion that does not flinch"),
    # Ukrainian outlets.
    Outlet("kyiv-ledger", "The Kyiv Ledger", "ukrainian", "UA", "en", "atom",
           "kyiv-ledger.example", 5, "Independent news from Ukraine"),
    Outlet("dniprovsky-vestnik", "Днепровский вестник", "ukrainian", "UA", "ru", "rss",
           "dniprovsky-vestnik.example", 4, "Новости Днепра и Украины"),
    # Independent Russian media in exile.
    Outlet("svobodny-vzglyad", "Свободный взгляд", "independent-russian", "LV", "ru", "atom",
           "svobodny-vzglyad.example", 4, "Независимое издание о России"),
    # Fact-checkers.
    Outlet("factlens", "FactLens", "fact-checker", "NL", "en", "rss",
           "factlens.example", 2, "Checking claims about the war"),
    Outlet("verifie", "Vérifié", "fact-checker", "BE", "fr", "atom",
           "verifie.example", 2, "La vérification des faits, au quotidien"),
)  # fmt: skip


def outlet(slug: str) -> Outlet:
    for item in OUTLETS:
        if item.slug == slug:
            return item
    raise KeyError(slug)
