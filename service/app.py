"""The Flask application: configuration, the API's blueprints, errors and docs."""

from __future__ import annotations

import logging

from celery import Celery
from flask import Flask
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from werkzeug.routing import BaseConverter

from domain.cache import ModelCache, RefCache
from domain.errors import UNAVAILABLE
from domain.services import Services
from registry import ENDED, Registry, connections, tenants
from registry.names import NAME_PATTERN, REF_PATTERN, VERSION_PATTERN, anchored
from registry.queue import celery_config
from registry.waiting import JobWaits

from . import (
    activations,
    audit,
    auth,
    datasets,
    docs,
    errors,
    exchange,
    health,
    jobs,
    memory,
    metrics,
    models,
    oip,
    playground,
    predict,
    schemas,
    scrape,
    sweeps,
    synthetic,
)
from . import config as settings_module
from .jsonprovider import ORJSONProvider

API_VERSION = "1"

log = logging.getLogger(__name__)


class RefConverter(BaseConverter):
    """A job or model reference in a path: an id, a name or name@version.

    Anything else (``..``-style tricks, slashes, over-long ids) does not match the route,
    so it is a 404 before any code looks it up.
    """

    regex = REF_PATTERN


class NameConverter(BaseConverter):
    """A model name in a path (the Open Inference Protocol's routes)."""

    regex = NAME_PATTERN


class VersionConverter(BaseConverter):
    """A model's version number in a path."""

    regex = VERSION_PATTERN


def _ref_param(converter) -> dict:
    return {"type": "string", "pattern": anchored(REF_PATTERN)}


def _name_param(converter) -> dict:
    return {"type": "string", "pattern": anchored(NAME_PATTERN)}


def _version_param(converter) -> dict:
    return {"type": "string", "pattern": anchored(VERSION_PATTERN)}


def _adopt(app: Flask, registry: Registry) -> None:
    """Give what was stored before tenants existed to the tenant ``default`` (once per
    store); with Redis unreachable at start, the first request that finds it again does."""
    done = False

    def adopt() -> None:
        nonlocal done
        try:
            registry.adopt_untenanted()
            done = True
        except UNAVAILABLE as e:
            log.warning("records stored before tenants not adopted yet: %s", e)

    adopt()

    @app.before_request
    def _adopt_once():
        if not done:
            adopt()


def create_app(config: dict | None = None) -> Flask:
    """Build the app.

    Settings come from :data:`registry.settings.TABLE` defaults, then the environment,
    then ``config`` (which may also carry Flask settings such as ``TESTING``).
    """
    settings = settings_module.load(config)
    # the keys live in auth's closure only, so that nothing dumping the config shows them
    ring = tenants.load(settings.pop("NNJOBS_KEYS_FILE")).with_api_keys(settings.pop("API_KEYS"))
    app = Flask(__name__)
    app.json = ORJSONProvider(app)
    app.config.update(settings)
    app.config.update(
        MAX_CONTENT_LENGTH=int(settings["NNJOBS_MAX_BODY_MB"] * 1024 * 1024),
        API_TITLE="nnjobs",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Train fully-connected neural networks as jobs, and serve "
                "their predictions. The page at /docs is rendered from this document."
            }
        },
    )
    # the provider does not sort keys, so {"code", "status", "message", "errors"} keep that order
    app.url_map.converters["ref"] = RefConverter
    app.url_map.converters["modelname"] = NameConverter
    app.url_map.converters["version"] = VersionConverter

    plugins = [schemas.LimitsPlugin(settings)]
    if ring:
        plugins.append(auth.SecurityPlugin())
    # last: it documents the protocol's error body on every error the others declared
    plugins.append(errors.V2ErrorsPlugin(schemas.oip.ERROR_SCHEMA))
    api = errors.Api(app, spec_kwargs={"extra_plugins": plugins})
    api.register_converter(RefConverter, _ref_param)
    api.register_converter(NameConverter, _name_param)
    api.register_converter(VersionConverter, _version_param)
    api.spec.components.schema("EarlyStopping", schema=schemas.EarlyStoppingSchema)
    api.spec.components.schema("Schedule", schema=schemas.ScheduleSchema)
    # history is an open mapping; its diagnostics entries are documented here
    api.spec.components.schema("LayerDiagnostics", schema=schemas.LayerDiagnosticsSchema)
    blueprints = (
        jobs.blp,
        sweeps.blp,
        models.blp,
        exchange.blp,
        predict.blp,
        oip.blp,
        datasets.blp,
        synthetic.blp,
        health.blp,
    )
    for blueprint in (*blueprints, activations.blp):
        api.register_blueprint(blueprint)
    schemas.document_limits(api.spec, settings)
    app.register_blueprint(docs.blp)
    app.register_blueprint(playground.blp)
    errors.register(app, api)
    # first, so that a request refused by the key check is timed and counted too
    metrics.init(app)
    memory.init(app)
    app.register_blueprint(scrape.blp)
    url = settings["REDIS_URL"]
    # one quick retry covers a connection dropped while idle; more would hold a request
    # for seconds when Redis is down, where a prompt 503 is more useful
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 1)
    registry = Registry.from_url(url, prefix=settings["NNJOBS_KEY_PREFIX"], retry=retry)
    registry.min_replicas = settings["NNJOBS_REDIS_MIN_REPLICAS"]
    registry.wait_timeout = settings["NNJOBS_REDIS_WAIT_TIMEOUT"]
    broker = settings["NNJOBS_BROKER_URL"] or url
    _adopt(app, registry)
    auth.init(app, ring, settings["NNJOBS_METRICS_PUBLIC"], settings, registry.take_token)
    audit.init(app, auth.scope, auth.view_predicts)
    celery = Celery("nnjobs-api", set_as_current=False)
    celery.conf.update(celery_config(broker, settings["NNJOBS_QUEUE"]))
    # the queue's length is read from the broker, which may be a Redis of its own
    app.extensions["nnjobs.broker_redis"] = (
        None if broker == url else connections.client(broker, socket_timeout=5, retry=retry)
    )
    cache = ModelCache(settings["NNJOBS_MODEL_CACHE"], settings["NNJOBS_MODEL_CACHE_MB"] * 2**20)
    app.extensions["nnjobs"] = Services(
        settings=settings,
        limits=settings_module.limits(settings),
        registry=registry,
        celery=celery,
        queue=settings["NNJOBS_QUEUE"],
        cache=cache,
        refs=RefCache(registry, cache),
        waits=JobWaits(registry, settings["NNJOBS_MAX_WAITING"], ENDED),
    )
    # the edge's own: the document /docs renders
    app.extensions["nnjobs.api"] = api
    return app
