"""Crawler: Scrapy spiders for feeds, news sitemaps and listing pages, with extraction, language and dedup.

Importing this package is cheap; Scrapy is imported by the modules that run a crawl.
"""
