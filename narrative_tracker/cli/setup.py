"""``init`` and ``db``: first-time set-up and database maintenance."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from narrative_tracker.cli.context import AppContext
from narrative_tracker.cli.output import echo_json, summary
from narrative_tracker.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "data" / "config.example.toml"


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def init(app: AppContext, force: bool) -> None:
    """Write a commented starter settings file.

    It goes to --config if given, else <home>/config.toml.
    """
    from narrative_tracker.settings import default_home

    target = Path(app.config_path) if app.config_path else default_home() / "config.toml"
    if target.exists() and not force:
        raise UsageError(f"{target} exists already: edit it, or pass --force to overwrite it")
    from narrative_tracker.privatefiles import private_dir, write_private

    # Owner-only: the file may come to hold a webhook token or a database password.
    private_dir(target.parent)
    write_private(target, EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    summary(f"Wrote {target}. Next: narrative-tracker --config {target} db upgrade")


@click.group()
def db() -> None:
    """Create, migrate and back up the database."""


@db.command()
@click.pass_obj
def upgrade(app: AppContext) -> None:
    """Create the database or migrate it to the latest schema."""
    from narrative_tracker.storage.database import create_db_engine, head_revision, open_database

    url = app.settings.database_url
    engine = create_db_engine(url)
    try:
        before = _revision_or_error(engine)
    finally:
        engine.dispose()
    database = open_database(url)
    database.dispose()
    head = head_revision()
    if before == head:
        summary(f"Database {database.url} is at the latest schema ({head}).")
    else:
        summary(f"Database {database.url} migrated from {before or 'empty'} to {head}.")


def _revision_or_error(engine: Engine) -> str | None:
    from sqlalchemy.exc import OperationalError

    from narrative_tracker.errors import StorageError
    from narrative_tracker.storage.database import current_revision

    try:
        return current_revision(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StorageError(f"cannot open database {engine.url.render_as_string()}: {reason}") from None


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def current(app: AppContext, as_json: bool) -> None:
    """Show the database's schema revision and the latest one."""
    from narrative_tracker.storage.database import create_db_engine, head_revision

    engine = create_db_engine(app.settings.database_url)
    try:
        revision = _revision_or_error(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if as_json:
        echo_json({"url": engine.url.render_as_string(), "current": revision, "head": head})
        return
    state = "up to date" if revision == head else "needs `db upgrade`"
    click.echo(f"{engine.url.render_as_string()}: revision {revision or 'none (empty)'}, latest {head} ({state})")


@db.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(app: AppContext, path: Path) -> None:
    """Copy the live SQLite database to PATH (safe while the scheduler runs)."""
    from narrative_tracker.storage.database import backup_sqlite

    backup_sqlite(app.database.engine, path)
    summary(f"Backed up {app.database.url} to {path} ({path.stat().st_size:,} bytes).")
