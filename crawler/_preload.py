"""Imported once by the forkserver of the extraction workers: every worker forked from it shares
trafilatura, feedparser and the language model (loaded here) instead of loading its own copy."""

from narrative_tracker.crawler.extract import warm_up
from narrative_tracker.crawler.lifetime import exit_when_orphaned

warm_up()
# The fork server outlived a crawl process that was killed; its workers die with it. The watching
# thread holds no lock, so forking the workers beside it is safe.
exit_when_orphaned()
