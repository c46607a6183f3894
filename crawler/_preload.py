"""Imported once by the forkserver of the extraction workers: every worker forked from it shares
trafilatura, feedparser and the language model (loaded here) instead of loading its own copy."""

from narrative_tracker.crawler.extract import warm_up

warm_up()
