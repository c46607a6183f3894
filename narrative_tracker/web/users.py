"""The admins' users page: accounts and API tokens, through the same functions as the CLI's
``users`` and ``tokens`` commands (so the same rules hold: a role change or removal ends the user's
sessions, the last admin stays, a token is shown once and only its hash is kept)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from narrative_tracker.errors import UsageError
from narrative_tracker.web import accounts
from narrative_tracker.web.accounts import ROLES, Account
from narrative_tracker.web.auth import guard
from narrative_tracker.web.views import render

MAX_FIELD = 200  # longer names and passwords are refused before any work (argon2 on a megabyte is slow)


def _page(request: Request, *, status: int = 200, **extra: Any) -> Response:
    database = request.app.state.database
    users, tokens = accounts.list_users(database), accounts.list_tokens(database)
    context = {
        "users": users,
        "tokens": tokens,
        "roles": ROLES,
        "last_sign_in": dict(request.app.state.last_sign_in),
        "message": request.query_params.get("message", "")[:300],
        "error": None,
        "new_token": None,
        "form": {},
        **extra,
    }
    return render(request, "users.html", context, status=status)


async def _fields(request: Request, *names: str) -> dict[str, str]:
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in names}
    too_long = [name for name, value in values.items() if len(value) > MAX_FIELD]
    if too_long:
        raise UsageError(f"{too_long[0]}: at most {MAX_FIELD} characters")
    return values


def _done(message: str) -> Response:
    return RedirectResponse(f"/users?{urlencode({'message': message})}", status_code=303)


async def _refused(request: Request, exc: UsageError, **extra: Any) -> Response:
    return await run_in_threadpool(lambda: _page(request, status=400, error=str(exc), **extra))


# ---------------------------------------------------------------- the page
@guard("users")
async def users_page(request: Request, account: Account) -> Response:
    return await run_in_threadpool(_page, request)


# ---------------------------------------------------------------- users
@guard("users")
async def add_user(request: Request, account: Account) -> Response:
    fields: dict[str, str] = {}
    try:
        fields = await _fields(request, "name", "role", "password", "password_again")
        if fields["password"] != fields["password_again"]:
            raise UsageError("the two passwords differ: type the same password twice")
        await run_in_threadpool(accounts.add_user, request.app.state.database, fields["name"].strip(),
                                fields["role"], fields["password"])
    except UsageError as exc:
        # The form comes back with the name and role filled in (never the passwords).
        return await _refused(request, exc, form={"name": fields.get("name", ""), "role": fields.get("role", "")})
    return _done(f"User {fields['name'].strip()} added ({fields['role']}).")


@guard("users")
async def change_role(request: Request, account: Account) -> Response:
    name = request.path_params["name"]
    try:
        role = (await _fields(request, "role"))["role"]
        current = {u.name: u.role for u in await run_in_threadpool(accounts.list_users, request.app.state.database)}
        if current.get(name) == role:
            return _done(f"User {name} is {role} already: nothing changed.")  # and their sessions go on
        await run_in_threadpool(accounts.set_role, request.app.state.database, name, role)
    except UsageError as exc:
        return await _refused(request, exc)
    if name == account.name:
        return RedirectResponse("/login", status_code=303)  # their own session has just ended
    return _done(f"User {name} is now {role}; their sessions ended.")


@guard("users")
async def confirm_remove(request: Request, account: Account) -> Response:
    name = request.path_params["name"]
    return render(request, "users_confirm.html", {
        "title": f"Remove user {name}?",
        "text": "Their sessions end at once; the labels they stored stay.",
        "action": f"/users/{quote(name, safe='')}/remove",
        "button": f"Yes, remove {name}",
        "yourself": name == account.name,
    })


@guard("users")
async def remove(request: Request, account: Account) -> Response:
    name = request.path_params["name"]
    try:
        await run_in_threadpool(accounts.remove_user, request.app.state.database, name)
    except UsageError as exc:
        return await _refused(request, exc)
    if name == account.name:
        return RedirectResponse("/login", status_code=303)
    return _done(f"User {name} removed.")


# ---------------------------------------------------------------- tokens
@guard("users")
async def create_token(request: Request, account: Account) -> Response:
    fields: dict[str, str] = {}
    try:
        fields = await _fields(request, "name", "role")
        name = fields["name"].strip()
        token = await run_in_threadpool(accounts.create_token, request.app.state.database, name, fields["role"])
    except UsageError as exc:
        return await _refused(request, exc, token_form={"name": fields.get("name", ""), "role": fields.get("role", "")})
    # Shown in this answer only (never in a URL, never stored): the page is not cached (no-store).
    return await run_in_threadpool(lambda: _page(request, new_token={"name": name, "role": fields["role"],
                                                                     "token": token}))


@guard("users")
async def confirm_revoke(request: Request, account: Account) -> Response:
    name = request.path_params["name"]
    return render(request, "users_confirm.html", {
        "title": f"Revoke token {name}?",
        "text": "Programs using it are refused from now on.",
        "action": f"/tokens/{quote(name, safe='')}/revoke",
        "button": f"Yes, revoke {name}",
        "yourself": False,
    })


@guard("users")
async def revoke(request: Request, account: Account) -> Response:
    name = request.path_params["name"]
    try:
        await run_in_threadpool(accounts.revoke_token, request.app.state.database, name)
    except UsageError as exc:
        return await _refused(request, exc)
    return _done(f"Token {name} revoked.")


ROUTES = [
    Route("/users", users_page, methods=["GET"]),
    Route("/users", add_user, methods=["POST"]),
    Route("/users/{name}/role", change_role, methods=["POST"]),
    Route("/users/{name}/remove", confirm_remove, methods=["GET"]),
    Route("/users/{name}/remove", remove, methods=["POST"]),
    Route("/tokens", create_token, methods=["POST"]),
    Route("/tokens/{name}/revoke", confirm_revoke, methods=["GET"]),
    Route("/tokens/{name}/revoke", revoke, methods=["POST"]),
]
