"""Narrative Tracker: track known propaganda narratives through the news.

This is the one import package. The application (CLI, settings, demo, local news web) lives in
this folder; the stages are its sub-packages ``narrative_tracker.crawler``, ``.classifier``,
``.trends``, ``.storage`` and ``.jobs``, kept in the repository's top-level folders of those names.
"""

__version__ = "0.1.0"
