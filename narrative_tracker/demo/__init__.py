"""The offline demo: an invented news world served on 127.0.0.1 and the real pipeline run over it.

``world`` plans what each invented outlet publishes (ordinary news, background narratives and the
"Western slowdown as Russian victory" wave), ``texts`` writes the articles from sentence pools,
``pages`` renders article pages and feeds, ``site`` serves them on a
:class:`~narrative_tracker.newsweb.NewsWeb`, and ``pipeline`` runs crawl, classify, trends,
alerts and the digest over them, as ``narrative-tracker demo`` does.
"""
