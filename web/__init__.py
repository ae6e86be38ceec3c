"""The Inzage web application."""

from __future__ import annotations

import gc
import logging
import secrets
from pathlib import Path

from quart import Quart, current_app, g, request

from models.db import close_database, open_database
from models.settings import Settings, load_settings
from web import i18n, twofactor
from web.rendering import render, setup_rendering
from web.security import (
    check_csrf,
    csrf_token,
    load_current_person,
    set_security_headers,
    wants_fragment,
)

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, manage_database: bool = True
) -> Quart:
    """Build the app: config, templates, request guards, one blueprint per area."""
    settings = settings or load_settings()
    settings.check()

    app = Quart(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        PRODUCTION=settings.is_production,
        INZAGE=settings,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        # Without Redis, run the worker's periodic jobs (the outbox sweeper,
        # the daily e-mails, purging sessions) while serving; tests turn it off.
        JOBS_IN_PROCESS=True,
    )
    _setup_templates(app)

    if manage_database:

        @app.before_serving
        async def open_orm() -> None:
            # Migrations run once, before the workers start (`inzage migrate`).
            await open_database(settings, upgrade=False)

    # After the database opens, and stopped before it closes.
    app.before_serving(_start_jobs)
    if manage_database:
        app.before_serving(_freeze_startup_objects)
    app.after_serving(_stop_jobs)
    if manage_database:
        app.after_serving(close_database)

    app.before_request(_before_request)
    # After the session is loaded: a half-finished two-factor sign-in reaches
    # only its own step (SPEC.md section 11).
    twofactor.init_app(app)
    app.after_request(set_security_headers)
    _register_errors(app)

    from web import auth, portal, staff, staff_security

    app.register_blueprint(auth.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(staff.bp)
    from web import access_log, sharing

    app.register_blueprint(sharing.bp)
    app.register_blueprint(access_log.bp)
    app.register_blueprint(staff_security.bp)
    from web import account

    app.register_blueprint(account.bp)
    from web import api, inbox, notifications, staff_messages

    app.register_blueprint(inbox.bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(staff_messages.bp)
    app.register_blueprint(api.bp)
    return app


def _secret_key(settings: Settings) -> str:
    """Use the configured key; in development keep a generated one on disk."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


async def _start_jobs() -> None:
    """Without Redis, this process runs the arq worker's cron jobs itself."""
    settings = current_app.config["INZAGE"]
    if not current_app.config["JOBS_IN_PROCESS"] or settings.redis_url:
        return
    from tasks.in_process import InProcessCron

    current_app.extensions["inzage_cron"] = InProcessCron(settings).start()


async def _freeze_startup_objects() -> None:
    """Keep what the process built to serve out of the cycle collector.

    The modules, the app, the ORM's models and the templates live as long as
    the process; every full collection walked all of them again (some
    100,000 objects, a tenth of a section page's time under load). Frozen,
    a collection walks only what requests made (gc.freeze, made for servers).
    """
    gc.freeze()


async def _stop_jobs() -> None:
    cron = current_app.extensions.pop("inzage_cron", None)
    if cron is not None:
        await cron.stop()


# Routes that answer without a session or the database.
SESSIONLESS_ENDPOINTS = frozenset({"static", "auth.health"})


async def _before_request() -> None:
    if request.endpoint in SESSIONLESS_ENDPOINTS:
        return
    await load_current_person()
    person = g.person
    language = person.language if person else request.cookies.get("lang")
    if person is None and request.args.get("lang"):
        language = request.args["lang"]  # known_language() checks it
    i18n.set_language(language)
    return await check_csrf()


def _setup_templates(app: Quart) -> None:
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)
    app.jinja_env.globals.update(
        csrf_token=csrf_token,
        section_title=i18n.section_title,
        section_titles=i18n.section_titles,
        role_title=i18n.role_title,
        current_language=i18n.current_language,
        HTMX_FILE="htmx-2.0.10.min.js",
        wants_fragment=wants_fragment,
    )
    setup_rendering(app)


def _register_errors(app: Quart) -> None:
    def handler_for(status: int):
        async def error_page(error):
            fragment = wants_fragment()
            template = "errors/partial.html" if fragment else "errors/page.html"
            reason = getattr(error, "description", None)
            body = await render(template, status=status, reason=reason)
            return body, status

        return error_page

    for status in (400, 403, 404, 405, 413, 500):
        app.register_error_handler(status, handler_for(status))
