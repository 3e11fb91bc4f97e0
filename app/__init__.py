"""The Corporate Parenting module: an LTI 1.3 tool. `create_app()` builds the Flask app."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from app import logs, score_sender
from app.auth import login_manager
from app.config import Settings, engine_options
from app.db import db
from app.extensions import compress, csrf, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    app.config.from_mapping(Settings.from_env(Path(app.instance_path)).as_dict())
    app.config["GOVUK_FRONTEND_DIST"] = str(ROOT / "node_modules/govuk-frontend/dist/govuk")
    if config:
        app.config.update(config)
        if "SQLALCHEMY_ENGINE_OPTIONS" not in config:
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
                app.config["SQLALCHEMY_DATABASE_URI"]
            )
    app.permanent_session_lifetime = app.config["SESSION_HOURS"] * 3600
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"], app.logger)

    if app.config["TRUST_PROXY_HEADERS"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    app.jinja_loader = ChoiceLoader(
        [
            app.jinja_loader,  # type: ignore[list-item]
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    WTFormsHelpers(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "app" / "migrations"), render_as_batch=True)
    from app.web import limit_request_size

    # The size limit is checked first: CSRF protection reads the body.
    app.before_request(limit_request_size)
    login_manager.init_app(app)
    csrf.init_app(app)
    # Only the static CSS, JavaScript and SVG are compressed: pages carry CSRF tokens and
    # echo what people type, and compressing both together invites BREACH-style attacks.
    app.config.setdefault(
        "COMPRESS_MIMETYPES",
        ["text/css", "text/javascript", "application/javascript", "image/svg+xml"],
    )
    app.config.setdefault("SEND_FILE_MAX_AGE_DEFAULT", 3600)
    # Streamed files are left alone (compressing a stream would leave its file open); the
    # GOV.UK assets are read whole and compressed (app/web.py).
    app.config.setdefault("COMPRESS_STREAMS", False)
    compress.init_app(app)

    from app.about import bp as about_bp
    from app.api import bp as api_bp
    from app.cli import register_cli
    from app.hr import bp as hr_bp
    from app.learner import bp as learner_bp
    from app.manager import bp as manager_bp
    from app.metrics import init_app as init_metrics
    from app.web import init_web
    from lti.dynreg import bp as dynreg_bp
    from lti.dynreg import init_app as init_dynreg
    from lti.routes import bp as lti_bp

    init_web(app)
    init_metrics(app)
    csrf.exempt(api_bp)  # token auth, no cookies
    for bp in (lti_bp, learner_bp, hr_bp, manager_bp, api_bp, about_bp):
        app.register_blueprint(bp)
    app.register_blueprint(dynreg_bp)
    init_dynreg(app)
    register_cli(app)
    score_sender.init_app(app)
    _check_content(app)
    return app


def _check_content(app: Flask) -> None:
    """Validate the content packs at start-up, so a broken edit is reported at once.

    Pages show the published versions (in the database), so a bad working copy does not
    stop the tool: it is logged, and `flask content publish` refuses it.
    """
    from app.services.content_pack import PackError, load_packs_cached

    try:
        load_packs_cached(app.config["CONTENT_DIR"])
    except PackError as exc:
        for problem in exc.problems:
            logging.getLogger("cpm.content").warning("content problem: %s", problem)
