"""GET /metrics (SPEC X3) in Prometheus' text format, made with prometheus_client (the
maintained client: its exposition format and histogram buckets, not hand-written text).

The live figures are read when scraped (registrations, meetings and their members, calls
in use, spilled call records waiting, the ESL link); request latency is a histogram that a
Bottle plugin observes for every route. Only a scraper on this host (loopback, not through
nginx) may read it, or one that sends the configured bearer token (VCBOX_METRICS_TOKEN).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from bottle import Bottle, HTTPResponse, request, response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from controlplane import cdr, live
from controlplane.app import Services
from controlplane.drivers.esl import EslError
from controlplane.i18n import N_
from controlplane.web.context import _

LOOPBACK = ("127.0.0.1", "::1")
REFUSED = N_("Metrics are served to this host, or with the metrics token, only.")


class LiveCollector:
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        s = self.services
        yield GaugeMetricFamily("vcbox_esl_connected", "1 while the control plane has its "
                                "event-socket link to FreeSWITCH", value=int(s.esl.connected))
        devices = s.presence.devices()
        yield GaugeMetricFamily("vcbox_registered_devices", "SIP registrations (devices)",
                                value=len(devices))
        yield GaugeMetricFamily("vcbox_online_users", "Accounts with a registered device",
                                value=len({d.account for d in devices}))
        try:
            running = s.live_meetings.list()
        except EslError:
            running = None
        if running is not None:
            meetings = [m for m in running if m["kind"] != "p2p"]
            family = GaugeMetricFamily("vcbox_live_meetings", "Meetings running, by type",
                                       labels=["kind"])
            for kind in ("vmr", "scheduled", "instant"):
                family.add_metric([kind], sum(1 for m in meetings if m["kind"] == kind))
            yield family
            yield GaugeMetricFamily("vcbox_meeting_members", "Participants of the meetings "
                                    "running", value=sum(len(m["members"]) for m in meetings))
            yield GaugeMetricFamily("vcbox_p2p_calls", "Point-to-point calls up",
                                    value=len(running) - len(meetings))
        figures = live.figures(s.esl, online=s.presence.online_count)
        if figures is not None:
            yield GaugeMetricFamily("vcbox_licensed_calls_in_use", "Calls counted against "
                                    "the license (L4)", value=figures.calls)
        spill = s.config.root / cdr.SPILL_DIR
        waiting = len(list(spill.glob("*.cdr.json"))) if spill.is_dir() else 0
        yield GaugeMetricFamily("vcbox_cdr_backlog", "Call records FreeSWITCH spilled, not "
                                "taken in yet", value=waiting)


class RequestTimer:
    """Bottle plugin: every route's latency into the histogram (by route and status)."""

    name = "vcbox_metrics"
    api = 2

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram

    def apply(self, callback, route):
        rule, method = route.rule, route.method

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            status = 500
            try:
                out = callback(*args, **kwargs)
                status = response.status_code
                return out
            except HTTPResponse as res:  # HTTPError too: an answer, with its status
                status = res.status_code
                raise
            except Exception as exc:  # a VcboxError answers with its own status
                status = getattr(exc, "status", 500)
                raise
            finally:
                self.histogram.labels(method, rule, str(status)).observe(
                    time.perf_counter() - start)

        return timed


def allowed(token: str) -> bool:
    if token:
        given = request.get_header("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    # This host itself, not a client that nginx passes on (it says who in X-Real-IP).
    return (request.environ.get("REMOTE_ADDR") in LOOPBACK
            and not request.environ.get("HTTP_X_REAL_IP"))


def routes(app: Bottle, services: Services) -> None:
    registry = CollectorRegistry()
    registry.register(LiveCollector(services))
    latency = Histogram("vcbox_http_request_seconds", "Time to answer a request",
                        ["method", "route", "status"], registry=registry)
    app.install(RequestTimer(latency))

    @app.get("/metrics", auth="public", skip=["vcbox_audit"],
             summary="Prometheus metrics (this host, or with the metrics token)")
    def metrics():
        if not allowed(services.config.metrics_token):
            raise HTTPResponse({"error_id": "forbidden", "message": _(REFUSED),
                                "details": {}}, 403)
        return HTTPResponse(generate_latest(registry), 200,
                            {"Content-Type": CONTENT_TYPE_LATEST})
