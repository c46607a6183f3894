"""Scrapy spiders of the crawler."""
