"""The web app: server-rendered pages and a JSON API over the same storage as the CLI.

``app.create_app`` builds the Starlette application; ``server.serve`` runs it under uvicorn.
Accounts and tokens live in ``accounts``; identity, roles, CSRF and rate limits in ``auth``.
"""
