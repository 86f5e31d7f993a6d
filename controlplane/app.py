"""The Bottle app factory: services, plugins and routes, built from a Config."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from bottle import Bottle

from controlplane.apply import Applier
from controlplane.auth import Auth
from controlplane.captchas import Captchas
from controlplane.config import Config
from controlplane.mail import Mailer
from controlplane.oplog import OperationLog
from controlplane.settings import Settings
from controlplane.store import Documents, History

log = logging.getLogger(__name__)


@dataclass
class Services:
    config: Config
    docs: Documents
    history: History
    auth: Auth
    oplog: OperationLog
    settings: Settings
    mailer: Mailer
    captchas: Captchas
    applier: Applier
    started: float = field(default_factory=time.time)

    @classmethod
    def open(cls, config: Config) -> Services:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        config.root.mkdir(parents=True, exist_ok=True)
        docs = Documents(config.documents_path)
        history = History(config.history_path)
        settings = Settings(docs)
        log = OperationLog(history)
        return cls(
            config=config,
            docs=docs,
            history=history,
            auth=Auth(docs, history, config),
            oplog=log,
            settings=settings,
            mailer=Mailer(settings),
            captchas=Captchas(),
            applier=Applier(config, docs, settings, log),
        )

    def close(self) -> None:
        self.history.close()
        self.docs.close()


def create_app(config: Config, services: Services | None = None) -> Bottle:
    from controlplane.web import install

    services = services or Services.open(config)
    app = Bottle(autojson=True)
    app.config["vcbox.services"] = services
    install(app, services)
    return app
