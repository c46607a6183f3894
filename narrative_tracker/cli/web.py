"""Commands of the web app: web, users, tokens."""

from __future__ import annotations

import sys

import click

from narrative_tracker.cli.context import AppContext
from narrative_tracker.cli.output import echo_json, summary

pass_app = click.make_pass_decorator(AppContext)
ROLE = click.Choice(["viewer", "analyst", "admin"])


@click.command()
@click.option("--host", help="Address to listen on (default: [web] bind, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [web] port, 8080).")
@pass_app
def web(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the web app: dashboard, narratives, article search, labelling, models, sources, jobs.

    Sign in with an account made by `narrative-tracker users add`. Put it behind a reverse proxy
    with TLS (and set [web] base_url) before anyone reaches it over a network.
    """
    from narrative_tracker.web.server import serve

    settings = app.settings
    host = host or settings.web.bind
    port = port or settings.web.port
    summary(f"Web app on http://{host}:{port}/ (Ctrl-C stops)")
    serve(settings, app.database, host=host, port=port)


# ---------------------------------------------------------------- users
@click.group()
def users() -> None:
    """Accounts of the web app (roles: viewer < analyst < admin)."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return str(password)


@users.command("add")
@click.argument("name")
@click.option("--role", type=ROLE, required=True, help="What the user may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@pass_app
def users_add(app: AppContext, name: str, role: str, password_stdin: bool) -> None:
    """Create an account."""
    from narrative_tracker.web.accounts import add_user, check_name

    check_name(name)
    add_user(app.database, name, role, _read_password(password_stdin))
    summary(f"User {name} added ({role}).")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def users_list(app: AppContext, as_json: bool) -> None:
    """List the accounts and their roles."""
    from narrative_tracker.web.accounts import list_users

    rows = list_users(app.database)
    if as_json:
        echo_json([{"name": r.name, "role": r.role, "created_at": r.created_at} for r in rows])
        return
    for row in rows:
        click.echo(f"{row.name:<24} {row.role:<8} {row.created_at:%Y-%m-%d %H:%M}")
    if not rows:
        summary("No users yet: add one with `narrative-tracker users add NAME --role admin`.")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=ROLE)
@pass_app
def users_set_role(app: AppContext, name: str, role: str) -> None:
    """Change a user's role (their open sessions end)."""
    from narrative_tracker.web.accounts import set_role

    set_role(app.database, name, role)
    summary(f"User {name} is now {role}; their sessions ended.")


@users.command("remove")
@click.argument("name")
@pass_app
def users_remove(app: AppContext, name: str) -> None:
    """Delete an account (its sessions end at once; its labels stay)."""
    from narrative_tracker.web.accounts import remove_user

    remove_user(app.database, name)
    summary(f"User {name} removed.")


# ---------------------------------------------------------------- tokens
@click.group()
def tokens() -> None:
    """API tokens for programs (Authorization: Bearer TOKEN)."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=ROLE, required=True, help="What the token may do.")
@pass_app
def tokens_create(app: AppContext, name: str, role: str) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from narrative_tracker.web.accounts import create_token

    token = create_token(app.database, name, role)
    click.echo(token)
    summary(f"Token {name} ({role}) created: keep it now, it is not shown again.")


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def tokens_list(app: AppContext, as_json: bool) -> None:
    """List the tokens (names and roles, never the tokens)."""
    from narrative_tracker.web.accounts import list_tokens

    rows = list_tokens(app.database)
    if as_json:
        echo_json([{"name": n, "role": r, "created_at": c, "last_used_at": u} for n, r, c, u in rows])
        return
    for name, role, created, used in rows:
        click.echo(f"{name:<24} {role:<8} created {created:%Y-%m-%d}  last used {used or 'never'}")


@tokens.command("revoke")
@click.argument("name")
@pass_app
def tokens_revoke(app: AppContext, name: str) -> None:
    """Delete a token: it stops working at once."""
    from narrative_tracker.web.accounts import revoke_token

    revoke_token(app.database, name)
    summary(f"Token {name} revoked.")
