"""GET /metrics (SPEC X3): Prometheus' text format, for this host only or with the
configured token; request latency by route. The live figures from a running FreeSWITCH are
checked in test_meetings_real.py (live meetings) as well."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, configured_server

TOKEN = "s3cret-scraper-token"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with configured_server(tmp_path_factory.mktemp("metrics"),
                           VCBOX_METRICS_TOKEN=TOKEN) as server:
        yield server


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_this_host_reads_the_figures_in_prometheus_format(srv: Server) -> None:
    assert requests.get(srv.url + "/api/v1/setup", timeout=10).status_code == 200
    res = requests.get(srv.url + "/metrics", timeout=10)
    assert res.status_code == 200, res.text
    assert res.headers["Content-Type"].startswith("text/plain")
    got = samples(res.text)
    # No FreeSWITCH here: the link is down, and nothing is made up for what it would say.
    assert got[("vcbox_esl_connected", ())] == 0
    assert got[("vcbox_registered_devices", ())] == 0
    assert got[("vcbox_cdr_backlog", ())] == 0
    assert not any(name == "vcbox_live_meetings" for name, _ in got)
    # The request before this one was timed, by its route.
    count = got[("vcbox_http_request_seconds_count",
                 (("method", "GET"), ("route", "/api/v1/setup"), ("status", "200")))]
    assert count >= 1


def test_through_the_proxy_only_the_token_opens_it(srv: Server, tmp_path: Path) -> None:
    proxied = {"X-Real-IP": "192.0.2.7"}  # as nginx passes a client on
    res = requests.get(srv.url + "/metrics", headers=proxied, timeout=10)
    assert res.status_code == 403, res.text
    assert res.json()["error_id"] == "forbidden"
    wrong = requests.get(srv.url + "/metrics", timeout=10,
                         headers={**proxied, "Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    right = requests.get(srv.url + "/metrics", timeout=10,
                         headers={**proxied, "Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and "vcbox_esl_connected" in right.text
