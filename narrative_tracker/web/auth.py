"""Who is asking, what they may do, and whether a state-changing request really comes from our forms.

- Sessions: a cookie signed with the secret (itsdangerous) holding the user id, the user's
  ``session_version`` and an expiry that the server checks; bumping the version in the database
  (sign-out, role change, removal) ends every session of that user at once.
- API tokens: ``Authorization: Bearer ...``.
- CSRF: a random per-browser cookie, and in every form (or the ``X-CSRF-Token`` header) an HMAC
  of it; a request that carries a bearer token and no cookie cannot be forged by a browser and
  is exempt. Cross-site requests (``Sec-Fetch-Site: cross-site``) are refused as well.
- Every endpoint is wrapped by ``guard(permission)``: one check behind pages and API.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from narrative_tracker.web.accounts import Account, account_for_token, user_by_id

SESSION_COOKIE = "nt_session"
CSRF_COOKIE = "nt_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Endpoint = Callable[[Request, Account], Awaitable[Response]]


@dataclass
class AuthConfig:
    secret: str
    session_seconds: float
    secure_cookies: bool

    @property
    def serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt="narrative-tracker.session")


class Forbidden(Exception):
    """A signed-in account asked for something its role does not allow (answered 403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    """A state-changing request without a valid CSRF token (answered 403, nothing changed)."""


# ---------------------------------------------------------------- sessions
def session_cookie(config: AuthConfig, user_id: int, version: int) -> str:
    return config.serializer.dumps({"u": user_id, "v": version, "e": int(time.time() + config.session_seconds)})


def _session_account(request: Request, config: AuthConfig) -> Account | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        payload = config.serializer.loads(raw)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), int) or payload["e"] < time.time():
        return None
    user = user_by_id(request.app.state.database, int(payload.get("u", 0)))
    if user is None or user.session_version != payload.get("v"):
        return None  # removed, signed out or role changed since the cookie was made
    return Account(name=user.name, role=user.role, kind="user", user_id=user.id)


def identify(request: Request) -> Account | None:
    config: AuthConfig = request.app.state.auth
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return account_for_token(request.app.state.database, header[7:].strip())
    return _session_account(request, config)


# ---------------------------------------------------------------- CSRF
def csrf_token_for(config: AuthConfig, browser_value: str) -> str:
    return hmac.new(config.secret.encode(), b"csrf:" + browser_value.encode(), hashlib.sha256).hexdigest()


def browser_csrf_value(request: Request) -> str:
    """This browser's CSRF cookie value (a new one is made, and set by ``set_csrf_cookie``, when missing)."""
    value = request.cookies.get(CSRF_COOKIE)
    if not value or len(value) > 100:
        value = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(24)
        request.state.new_csrf = value
    return value


def csrf_token(request: Request) -> str:
    return csrf_token_for(request.app.state.auth, browser_csrf_value(request))


def set_csrf_cookie(request: Request, response: Response) -> None:
    value = getattr(request.state, "new_csrf", None)
    if value:
        config: AuthConfig = request.app.state.auth
        response.set_cookie(
            CSRF_COOKIE, value, httponly=True, samesite="strict", secure=config.secure_cookies, path="/"
        )


async def check_csrf(request: Request) -> None:
    """Raise CsrfFailed unless the request carries the token of this browser's CSRF cookie."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("authorization", "").lower().startswith("bearer ") and "cookie" not in request.headers:
        return  # not a browser acting on a session: nothing to forge
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CsrfFailed
    browser = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not browser or not sent or not hmac.compare_digest(sent, csrf_token_for(request.app.state.auth, browser)):
        raise CsrfFailed


# ---------------------------------------------------------------- rate limit
class RateLimiter:
    """At most ``limit`` failed attempts per key within ``window`` seconds (in memory, per process)."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: str) -> bool:
        with self._lock:
            recent = self._prune(key)
            return len(recent) >= self.limit

    def failed(self, key: str) -> None:
        with self._lock:
            self._prune(key).append(time.monotonic())
            if len(self._failures) > 10_000:  # bounded memory under a spray of names
                self._failures.pop(next(iter(self._failures)))

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, key: str) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        while recent and recent[0] < time.monotonic() - self.window:
            recent.popleft()
        return recent


# ---------------------------------------------------------------- the guard
def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def safe_next(value: str | None) -> str:
    """A same-origin path to go to after signing in (never another host, never a scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return "/"
    return value


def guard(permission: str) -> Callable[[Endpoint], Callable[[Request], Awaitable[Response]]]:
    """Wrap an endpoint: identify the caller, check the permission, and the CSRF token on writes."""

    def wrap(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            account = await run_in_threadpool(identify, request)
            if account is None:
                if is_api(request):
                    return JSONResponse(
                        {"error": "sign in or send Authorization: Bearer TOKEN"},
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                from urllib.parse import quote

                return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
            request.state.account = account  # the error page shows who is signed in
            if not account.can(permission):
                raise Forbidden(f"your role ({account.role}) may not do this: it needs {permission!r}")
            await check_csrf(request)
            return await endpoint(request, account)

        guarded.permission = permission  # type: ignore[attr-defined]  # read by the route audit test
        return guarded

    return wrap


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"
