"""Crawled articles, one row per normalised URL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from narrative_tracker.storage.models.base import Base, UTCDateTime, utc_now
from narrative_tracker.storage.models.sources import Source


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_source_published", "source_id", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    #: Normalised URL (lower-case scheme and host, no default port, fragment or tracking parameters).
    url: Mapped[str] = mapped_column(Text)
    #: SHA-1 of ``url``: a short unique key that every database can index.
    url_hash: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    #: ISO 639-1 code, or "und" when it could not be told.
    lang: Mapped[str] = mapped_column(String(8), default="und", index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    #: True when the page had too little text and the feed summary stands in for it.
    summary_only: Mapped[bool] = mapped_column(Boolean, default=False)
    #: SHA-1 of the normalised text, for exact-copy detection.
    content_hash: Mapped[str | None] = mapped_column(String(40), index=True)
    #: Near-duplicate signature (MinHash values), for linking copies across outlets.
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The first-seen article this one copies, exactly or nearly.
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"), index=True)

    #: Views of a Telegram post when it was read ("1.2K" is 1200) and the rounding of that number
    #: (100 for "1.2K", 1 for an exact count): a change smaller than the rounding is not growth.
    views: Mapped[int | None] = mapped_column(Integer)
    views_granularity: Mapped[int | None] = mapped_column(Integer)
    #: A reposted Telegram post: the channel it was forwarded from, and that post's URL when public.
    forwarded_from_channel: Mapped[str | None] = mapped_column(Text)
    forwarded_from_url: Mapped[str | None] = mapped_column(Text, index=True)

    source: Mapped[Source] = relationship(lazy="joined", innerjoin=True)


class ArticleAlias(Base):
    """Another URL of a stored article: the feed link of a page stored under its canonical URL.

    The crawler checks these as it checks ``articles.url_hash``, so a link that led to an article
    stored under another URL is not fetched again on every crawl while it stays in the feed."""

    __tablename__ = "article_aliases"

    #: SHA-1 of the normalised link, like ``articles.url_hash``.
    url_hash: Mapped[str] = mapped_column(String(40), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
