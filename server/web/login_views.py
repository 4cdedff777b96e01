"""Login, logout, language switch and the admin's account page."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from protocol.urls import safe_next
from server.accounts import auth
from server.pages import ctx, lang
from server.web.blueprint import LIMITER_KEY, bp
from sohoa.webi18n import set_language


def _safe_next(target: str | None, user: auth.User | None = None) -> str:
    # Only paths on this server: an open redirect after login would be a phishing aid.
    start = url_for("web.dashboard")
    if user is not None and not user.can("supervisor"):  # an archivist lands in the archive
        start = url_for("archive.index")
    return safe_next(target, start)


@bp.route("/login", methods=["GET", "POST"])
@auth.public
def login() -> ResponseReturnValue:
    error = None
    status = 200
    if request.method == "POST":
        name = request.form.get("username", "").strip().lower()
        password = request.form.get("password", "")
        address = request.remote_addr or "?"
        limiter = current_app.extensions[LIMITER_KEY]  # sohoa.limits.AttemptLimiter
        wait = limiter.retry_after(name, address)
        if not auth.csrf_ok(session, request.form.get("csrf_token")):
            error, status = _("Your session expired: reload the page."), 400
        elif wait > 0:
            error, status = _("Too many failed logins. Try again in %(s)s seconds.", s=int(wait) + 1), 429
        else:
            user = auth.verify_login(ctx().db, name, password)
            if user is None:
                limiter.failed(name, address)
                error, status = _("Wrong user name or password."), 401
            else:
                limiter.succeeded(name, address)
                session.clear()  # a fresh session (and CSRF token) after login: no fixation
                session["user"] = user.name
                session["sid"] = auth.open_session(ctx().db, user.name)
                return redirect(_safe_next(request.args.get("next"), user))
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    auth.end_session(ctx().db, session.get("sid"))  # the cookie, if kept or copied, is worth nothing now
    session.clear()  # the language is a cookie of its own: it stays
    return redirect(url_for("web.login"))


@bp.get("/lang/<code>")
@auth.public
def set_lang(code: str) -> ResponseReturnValue:
    return set_language(redirect(_safe_next(request.args.get("next"))), code)


@bp.route("/users", methods=["GET", "POST"])
@auth.require_role("admin")
def users() -> ResponseReturnValue:
    status = 200
    if request.method == "POST":
        try:
            user = auth.create_user(
                ctx().db,
                request.form.get("username", "").strip().lower(),
                request.form.get("password", ""),
                request.form.get("role", "supervisor"),
            )
            flash(_("Saved account %(name)s.", name=user.name))
            return redirect(url_for("web.users"))
        except auth.AuthError as exc:
            flash(exc.text(lang()), "error")
            status = 400
    return render_template("users.html", users=auth.list_users(ctx().db), roles=auth.ROLES), status
