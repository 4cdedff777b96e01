"""What every page of the server's web UIs (server/web: supervisors and admins; server/archive: archivists)
shares: the server's context and the guard that runs before each page (texts: gettext, sohoa/webi18n.py).

Every endpoint needs a logged-in user unless marked `public` (server/accounts/auth.py), with the role it names; POST
requests need the session's CSRF token. Accounts are read from the server's records (`ctx().db`), shared when
the records are. It sits beside web/ and archive/ (not in either) so both use it and neither imports the other's
infrastructure: the supervisor's view reads the archive's results, never the other way round.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, redirect, request, session, url_for

from protocol.i18n import N_
from server.accounts import auth
from sohoa.weberrors import refuse
from sohoa.webi18n import current


def ctx() -> Any:
    return current_app.extensions["sohoa"]


def lang() -> str:
    """The page's language (the one rule of both apps: sohoa/webi18n.py)."""
    return current()


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/events" or request.is_json


def guard() -> Any:
    """Before every page of both UIs (web and archive): the login, role and CSRF checks."""
    view = current_app.view_functions.get(request.endpoint or "")
    role = auth.endpoint_role(view)
    g.user = None
    name = session.get("user")
    if name:
        cfg = ctx().config
        # The session must still exist server-side: logout, idle time and age end it at every server.
        live = auth.session_user(ctx().db, session.get("sid"), idle_s=cfg.session_idle_s, max_s=cfg.session_max_s)
        g.user = auth.active_user(ctx().db, name) if live == name else None
        if g.user is None:  # logged out, expired, disabled or removed since login
            session.clear()
    if role is None:
        return None
    if g.user is None:
        if _wants_json():
            return refuse(401, "login_required", N_("Log in first."))
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    if not g.user.can(role):
        if _wants_json():
            return refuse(403, "forbidden", N_("Your account may not do this."))
        abort(403)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if not auth.csrf_ok(session, sent):
            return refuse(400, "csrf", N_("Your session expired: reload the page."))
    return None
