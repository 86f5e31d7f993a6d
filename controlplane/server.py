"""The web server (DESIGN D1): gevent's WSGI server on a TCP_NODELAY listening socket."""

from __future__ import annotations

import gc
import logging
import logging.handlers
import os
import signal
import socket
import time
from typing import Any

from controlplane.apply.context import LAN_MEDIA_IP
from controlplane.config import Config

log = logging.getLogger(__name__)


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY: headers and body leave without Nagle's wait.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


LAN_CHECK_S = 5


def follow_lan_address(services: Any) -> None:
    """SIP, TURN and Janus bind to the LAN's DHCP address: re-render when it changes."""
    import gevent

    while True:
        gevent.sleep(LAN_CHECK_S)
        try:
            if services.applier.follow_lan_address():
                log.info("LAN address now %s: configs rendered again",
                         services.applier.media_ip)
        except Exception:
            log.exception("following the LAN address failed")


def replay_spilled_cdrs(services: Any) -> None:
    """K1: the call records FreeSWITCH spilled while the control plane was away, taken in
    now and then every config.cdr_replay_s (in the thread pool: it reads and fsyncs)."""
    import gevent

    from controlplane import cdr

    folder = services.config.root / cdr.SPILL_DIR
    while True:
        try:
            new, again = gevent.get_hub().threadpool.apply(cdr.replay,
                                                            (services.cdrs, folder))
            if new or again:
                log.info("call records replayed from %s: %d new, %d already kept", folder,
                         new, again)
        except Exception:
            log.exception("replaying the spilled call records failed")
        gevent.sleep(services.config.cdr_replay_s)


def sample_host(services: Any) -> None:
    """A8: a sample of the host's CPU, memory, network and data-disk use every
    config.sample_interval_s into the history database, older ones averaged (in the
    thread pool: the write fsyncs)."""
    import gevent

    from controlplane import samples

    store = samples.SampleStore(services.history)
    monitor = samples.HostMonitor(store, samples.HostSampler(
        lambda: samples.read_host(services.config.data_dir)))
    pool = gevent.get_hub().threadpool
    while True:
        try:
            pool.apply(monitor.tick)
        except Exception:
            log.exception("sampling the host failed")
        gevent.sleep(services.config.sample_interval_s)


HEP_RCVBUF = 4 << 20


BACKUP_CHECK_S = 30.0


def run_backup_schedule(services: Any) -> None:
    """B1: the automatic backups of the backup-schedule settings (in the thread pool: an
    archive takes a while)."""
    import gevent

    started = services.licenses.now()
    pool = gevent.get_hub().threadpool
    while True:
        gevent.sleep(BACKUP_CHECK_S)
        try:
            made = pool.apply(services.backups.run_schedule,
                              (services.settings.stored("backup-schedule"), started))
            if made:
                log.info("automatic backup %s made", made)
        except Exception:
            log.exception("the automatic backup failed")


def run_disk_quotas(services: Any) -> None:
    """D3: every config.disk_check_s (VCBOX_DISK_CHECK_S) each part over its quota loses
    its oldest files, and the administrator gets the 80 % mail once per crossing (in the
    thread pool: it walks the parts' folders and may send a mail)."""
    import gevent

    from controlplane.disk import QuotaJob

    job = QuotaJob(services.disk, services.settings, services.docs, services.mailer,
                   services.auth.admin)
    pool = gevent.get_hub().threadpool
    while True:
        gevent.sleep(services.config.disk_check_s)
        try:
            pool.apply(job.run)
        except Exception:
            log.exception("the disk quota job failed")


def capture_listener(services: Any) -> Any:
    """The terminal logs' receiver of sofia's HEP v3 capture (O4), on the loopback; None
    (and a warning) when its port is taken: the rest of the box runs on."""
    from gevent.server import DatagramServer

    from controlplane.terminal_logs import parse_hep3

    def take(data: bytes, _address: object) -> None:
        packet = parse_hep3(data)
        if packet is not None:
            try:
                services.terminal_logs.take(packet)
            except OSError:
                log.exception("a terminal log could not be written")

    server = DatagramServer(("127.0.0.1", services.config.hep_port), take)
    try:
        server.start()
    except OSError as exc:
        log.warning("terminal logs: the capture port 127.0.0.1:%s is not free (%s)",
                    services.config.hep_port, exc)
        return None
    # A registration storm sends bursts the default buffer (~208 KB) cannot hold while
    # the control plane waits for a core: measured with bench terminal_logs, up to 11 %
    # of the datagrams were dropped with it, none with 4 MiB (the kernel caps it at
    # net.core.rmem_max).
    import socket

    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, HEP_RCVBUF)
    return server


LOG_FILE = ("logs", "web", "controlplane.log")  # <data>/logs/web: system_logs' Web part
LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_KEEP = 5


class LogFile(logging.handlers.RotatingFileHandler):
    """The control plane's own log for the system logs export (O3) and the disk quota's
    server logs: rotated at 10 MB, five kept; opened again when the file went (a factory
    reset or "clean now" empties the logs folder)."""

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None and not os.path.exists(self.baseFilename):
            self.stream.close()
            self.stream = None  # type: ignore[assignment]
            os.makedirs(os.path.dirname(self.baseFilename), exist_ok=True)
        super().emit(record)


def log_to_file(config: Config) -> logging.Handler:
    path = config.data_dir.joinpath(*LOG_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = LogFile(path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_KEEP,
                      encoding="utf-8")
    # Times in UTC with their offset (RFC 3339): read the same whatever the time zone of
    # the process or of the appliance (system_logs dates a file by its first line).
    stamp = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    stamp.converter = time.gmtime
    stamp.default_time_format = "%Y-%m-%dT%H:%M:%S"
    stamp.default_msec_format = "%s.%03d+00:00"
    handler.setFormatter(stamp)
    logging.getLogger().addHandler(handler)
    return handler


def serve(config: Config) -> None:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    from gevent.pywsgi import WSGIHandler, WSGIServer

    from controlplane.http_headers import read_headers

    class Handler(WSGIHandler):
        MessageClass = staticmethod(read_headers)  # no email parser: controlplane.http_headers

        def handle_one_request(self):  # type: ignore[override]
            # A keep-alive connection with its next request already buffered would be
            # served again and again while others wait (p99 of 100+ ms): yield first.
            gevent.sleep(0)
            return super().handle_one_request()

        def log_request(self) -> None:
            """No access log: nginx keeps it on the appliance."""

    from controlplane.app import Services, create_app

    log_to_file(config)
    services = Services.open(config)
    # Render every config from the store and start what runs here (first run, upgrades).
    services.applier.startup()
    services.watch_directory_cache()
    services.runner.start()
    services.poller.start()  # C3: rotates who is on screen where members exceed the layout
    services.presence.start()  # S2: who is online, from FreeSWITCH's registrations
    services.follow_capture()  # O4: the terminal logs' SIP capture, when they are on
    app = create_app(config, services)
    from controlplane.web.api_freeswitch import fast_path, fast_routes
    from controlplane.web.gateway_listener import GatewayListener

    sock = listening_socket(config.listen_host, config.listen_port)
    server = WSGIServer(sock, fast_path(app, services), log=None, error_log=log,
                        handler_class=Handler)

    gateway = None
    if config.directory_port:
        gateway = GatewayListener(fast_routes(services), "127.0.0.1", config.directory_port)
        gateway.start()

    def stop(*_: object) -> None:
        if gateway is not None:
            gateway.stop()
        if hep is not None:
            hep.stop()
        server.stop(timeout=5)

    hep = capture_listener(services)
    if config.media_ip == LAN_MEDIA_IP:
        gevent.spawn(follow_lan_address, services)
    gevent.spawn(replay_spilled_cdrs, services)
    gevent.spawn(sample_host, services)
    gevent.spawn(run_backup_schedule, services)
    gevent.spawn(run_disk_quotas, services)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("vcbox web admin on http://%s:%s (data %s, root %s)", config.listen_host,
             config.listen_port, config.data_dir, config.root)
    print(f"vcbox listening on http://{config.listen_host}:{config.listen_port}", flush=True)
    # What start-up built (the store, the routes, templates and catalogues) lives as long
    # as the process: kept out of the cyclic collector's walk, a full collection no longer
    # stalls every request for tens of milliseconds (the soak's were 50 ms).
    gc.collect()
    gc.freeze()
    try:
        server.serve_forever()
    finally:
        services.applier.shutdown()
        services.close()
