"""The Bottle app factory: services, plugins and routes, built from a Config."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from bottle import Bottle, JSONPlugin

from controlplane import cdr, secrets
from controlplane.accounts import Accounts
from controlplane.apply import Applier
from controlplane.auth import Auth
from controlplane.backups import CALLS, HISTORY, Backups, recover_interrupted
from controlplane.captchas import Captchas
from controlplane.cdr import CdrBatcher, CdrInbox
from controlplane.config import Config
from controlplane.disk import Disk
from controlplane.drivers import freeswitch
from controlplane.drivers.esl import CONNECTED, Esl, EslError
from controlplane.firmware import Firmware
from controlplane.invitations import Invitations, Person, Site
from controlplane.license import Licenses
from controlplane.live_meetings import LiveMeetings
from controlplane.mail import Mailer
from controlplane.mcu import McuEvents
from controlplane.meeting_runner import MeetingRunner
from controlplane.meetings import Meetings
from controlplane.oplog import OperationLog
from controlplane.polling import Poller
from controlplane.portal import Portal
from controlplane.presence import Presence
from controlplane.rooms import Rooms
from controlplane.settings import Settings
from controlplane.store import Documents, History
from controlplane.terminal_logs import TerminalLogs
from controlplane.web_join import WebJoins

logger = logging.getLogger(__name__)
# How often sofia is told to capture while the terminal logs are on (see follow_capture).
CAPTURE_CHECK_S = 5.0


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
    licenses: Licenses
    accounts: Accounts
    rooms: Rooms
    esl: Esl
    cdrs: CdrInbox
    cdr_writes: CdrBatcher  # the gateway's posts: group commits into cdrs
    meetings: Meetings
    runner: MeetingRunner
    poller: Poller
    presence: Presence
    live_meetings: LiveMeetings
    terminal_logs: TerminalLogs
    portal: Portal
    invitations: Invitations
    backups: Backups
    firmware: Firmware
    disk: Disk
    started: float = field(default_factory=time.time)
    # What Janus's event handler posts (POST /janus/events), kept in memory
    mcu_events: McuEvents = field(default_factory=McuEvents)
    # Browser joins' one-time tokens and wrong-password counts (controlplane.web_join)
    web_joins: WebJoins = field(default_factory=WebJoins)

    @classmethod
    def open(cls, config: Config) -> Services:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        config.root.mkdir(parents=True, exist_ok=True)
        recovered = recover_interrupted(
            config.data_dir, config.documents_path,
            {HISTORY: config.history_path, CALLS: config.data_dir / cdr.DATABASE})
        if recovered:
            logging.getLogger(__name__).warning(
                "a restore or factory reset was interrupted: the data from before it is"
                " back (%s)", ", ".join(recovered))
        docs = Documents(config.documents_path)
        history = History(config.history_path)
        settings = Settings(docs)
        log = OperationLog(history)
        mailer = Mailer(settings)
        licenses = Licenses(docs, config)
        accounts = Accounts(docs, settings, licenses, mailer, zone=licenses.zone)
        rooms = Rooms(docs, accounts)
        cdrs = CdrInbox(config.data_dir)
        cdrs.prepare()
        accounts.on_delete.append(rooms.unbind_accounts)

        def access_numbers() -> tuple[str, ...]:
            return (settings.value("call", "ivr_number"),
                    settings.value("call", "meet_now_number"))

        meetings = Meetings(docs, accounts, rooms, zone=licenses.zone,
                            reserved=access_numbers)
        accounts.on_delete.append(meetings.drop_accounts)
        esl = Esl("127.0.0.1", 8021, secrets.ensure(docs)["esl_password"])
        applier = Applier(config, docs, settings, log)
        applier.drivers.update(freeswitch.drivers(config, applier.state, esl))

        def flush_directory(account: str) -> None:
            # Every account change reaches FreeSWITCH at once (DESIGN D4); without a
            # running FreeSWITCH there is no cache to flush.
            domain = settings.value("network", "domain")
            try:
                esl.api(f"xml_flush_cache id {account} {domain}")
            except EslError as exc:
                logger.info("directory cache flush for %s skipped: %s", account, exc)

        def drop_registrations(gone: set[str]) -> None:
            # E7: a deleted account's devices lose their registration at once (FreeSWITCH
            # forgets the contacts; a device learns it at its next REGISTER, refused).
            domain = settings.value("network", "domain")
            for account in sorted(gone):
                try:
                    esl.api(f"sofia profile internal flush_inbound_reg {account}@{domain}")
                except EslError as exc:
                    logger.info("registrations of %s not flushed: %s", account, exc)

        accounts.on_change.append(flush_directory)
        accounts.on_delete.append(drop_registrations)
        presence = Presence(esl)
        rooms.device_model_of = presence.model_of
        auth = Auth(docs, history, config)
        invitations = invitations_for(accounts, rooms, settings, licenses, auth, mailer)
        meetings.on_created.append(invitations.booked)
        meetings.on_changed.append(invitations.changed)
        meetings.on_deleted.append(invitations.cancelled)
        services = cls(
            config=config,
            docs=docs,
            history=history,
            auth=auth,
            oplog=log,
            settings=settings,
            mailer=mailer,
            captchas=Captchas(),
            applier=applier,
            licenses=licenses,
            accounts=accounts,
            rooms=rooms,
            esl=esl,
            cdrs=cdrs,
            cdr_writes=CdrBatcher(cdrs),
            meetings=meetings,
            poller=Poller(esl, lambda: settings.stored("call"),
                          layout_of=lambda name: meeting_layout(meetings, settings, name),
                          owns=lambda name: meetings.find(name) is not None),
            runner=MeetingRunner(
                meetings, esl,
                bound_account=lambda room_id: (rooms.find(room_id) or {}).get(
                    "bound_account", ""),
                domain=lambda: settings.value("network", "domain")),
            presence=presence,
            live_meetings=LiveMeetings(
                esl, meetings, name_of=accounts.name_of,
                model_of=presence.model_of,
                domain=lambda: settings.value("network", "domain")),
            terminal_logs=TerminalLogs(
                config.data_dir, zone=licenses.zone,
                sip_ports=lambda: {settings.value("services", "sip_port"),
                                   settings.value("services", "sip_tls_port")}),
            portal=Portal(accounts, meetings, settings, history, config, time.time),
            invitations=invitations,
            firmware=Firmware(config.data_dir, config.data_dir / "provisioning"),
            disk=Disk(config.data_dir, config.root, roots=config.disk_roots),
            backups=Backups(config.data_dir, docs, history, cdrs.path, now=licenses.now,
                            history_path=config.history_path, cdrs=cdrs, applier=applier),
        )
        services.backups.on_restored.append(
            lambda: services.restored(drop_registrations))
        return services

    def restored(self, drop_registrations: Callable[[set[str]], None]) -> None:
        """A restore put another store and history in place (or the old ones back): what
        is kept in memory is read again; everyone is signed out (a backup holds no
        sessions); the event socket signs in with the store's password from now on (the
        apply restarts FreeSWITCH on it); FreeSWITCH forgets the directory entries it
        cached and the registrations of accounts that are gone."""
        before = {a["account"] for a in self.accounts.find_all(limit=None)["items"]}
        self.esl.password = secrets.ensure(self.docs)["esl_password"]
        self.accounts.reload()
        self.auth.sessions.reload()
        self.portal.sessions.reload()
        after = {a["account"] for a in self.accounts.find_all(limit=None)["items"]}
        if before - after:
            drop_registrations(before - after)
        try:
            self.esl.api("xml_flush_cache")
        except EslError as exc:
            logger.info("directory cache not flushed after a restore: %s", exc)

    def watch_directory_cache(self) -> None:
        """Now and on every new ESL link, FreeSWITCH forgets the directory entries it
        cached: an account changed while the link was down (its flush skipped) takes
        effect then."""
        def flush_all(_event: object) -> None:
            try:
                self.esl.api("xml_flush_cache")
            except EslError as exc:
                logger.info("directory cache not flushed: %s", exc)

        self.esl.on_event(CONNECTED, flush_all)
        flush_all(None)

    def follow_capture(self, every_s: float = CAPTURE_CHECK_S) -> None:
        """Terminal logs on (O4): sofia's capture is switched on again and again. A
        FreeSWITCH that started anew, or a SIP profile restarted by a settings change,
        captures nothing until told, and there is no event for a profile coming up: so
        while the logs are on it is told every few seconds (one ESL command)."""
        def capture(_event: object = None) -> None:
            if not self.settings.value("terminal-logs", "enabled"):
                return
            try:
                self.esl.api("sofia global capture on")
            except EslError as exc:
                logger.debug("SIP capture for the terminal logs not switched on: %s", exc)

        def keep() -> None:
            while True:
                time.sleep(every_s)
                capture()

        self.esl.on_event(CONNECTED, capture)
        capture()
        threading.Thread(target=keep, name="terminal-log-capture", daemon=True).start()

    def close(self) -> None:
        self.runner.stop()
        self.poller.stop(restore=False)
        self.esl.close()
        self.history.close()
        self.cdrs.close()
        self.docs.close()


def invitations_for(accounts: Accounts, rooms: Rooms, settings: Settings,
                    licenses: Licenses, auth: Auth, mailer: Mailer) -> Invitations:
    """The meeting invitations, sent by mail in the background."""
    def person(account: str) -> Person | None:
        found = accounts.find(account)
        return Person(found.account, found.name, found.email) if found else None

    def site() -> Site:
        return Site(domain=accounts.domain(), ivr_number=settings.value("call", "ivr_number"),
                    base_url=accounts.portal_url(),
                    sender=settings.stored("smtp").get("sender", ""), zone=licenses.zone())

    def in_background(job) -> None:
        threading.Thread(target=job, name="invitations", daemon=True).start()

    return Invitations(
        person, site, room_name=lambda r: (rooms.find(r) or {}).get("name", r),
        language=lambda: (auth.admin() or {}).get("language", "zh_CN"),
        send=mailer.send_many, spawn=in_background)


def meeting_layout(meetings: Meetings, settings: Settings, conference: str) -> str | None:
    """The layout polling works with: a 1+N meeting's from the call settings; None (the
    equal layout of the settings) for the others."""
    meeting = meetings.find(conference)
    if meeting is not None and meeting.get("layout") == "1+n":
        return settings.value("call", "one_plus_n_layout")
    return None


def json_body(value: Any) -> bytes:
    """An answer's JSON (UTF-8, as the error answers'): orjson encodes a page of 20 accounts
    in 1.7 us where json.dumps takes 28 (a tenth of a list request under the soak)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def create_app(config: Config, services: Services | None = None) -> Bottle:
    from controlplane.web import install

    services = services or Services.open(config)
    app = Bottle(autojson=True)
    for plugin in app.plugins:
        if isinstance(plugin, JSONPlugin):  # bottle's own, in its place: json.dumps by default
            plugin.json_dumps = json_body
    app.config["vcbox.services"] = services
    install(app, services)
    return app
