"""Who is asking: the session behind each request, CSRF checks, and role checks.

A browser carries its session token in an HttpOnly, SameSite=Strict cookie and must send the session's
CSRF token in an X-CSRF-Token header with every change (the UI's fetch() does). A program (the demo)
sends `Authorization: Bearer <token>` from POST /api/login instead; browsers never add that header on
their own, so bearer requests need no CSRF token.
"""

from __future__ import annotations

import hmac

from flask import Response, current_app, g, request

from protocol.errors import say
from protocol.i18n import N_
from station.auth import Accounts, AuthError, Session

COOKIE = "sohoa_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def accounts() -> Accounts:
    return current_app.extensions["accounts"]


def request_token() -> tuple[str, bool]:
    """(token, from_cookie)."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip(), False
    return request.cookies.get(COOKIE, ""), True


def load_session() -> Session:
    """The request's session, or AuthError (not logged in, locked, bad CSRF token)."""
    if "session" in g:
        return g.session
    token, from_cookie = request_token()
    sess = accounts().session(token)
    if from_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent, sess.csrf):
            raise AuthError("csrf", N_("The session is not valid; reload the page."))
    g.session = sess
    return sess


def current() -> Session:
    return load_session()


def actor() -> str:
    return load_session().operator


def require(role: str) -> Session:
    sess = load_session()
    if not sess.can(role):
        names = {"supervisor": N_("supervisor"), "admin": N_("administrator")}
        raise AuthError("forbidden", N_("This needs the %(role)s role."), role=say(names.get(role, role)))
    return sess


def set_cookie(response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path="/")
