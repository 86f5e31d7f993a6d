"""A3: five wrong passwords in a row lock the user; the lock survives a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_PASSWORD, Server, configured_server

WRONG = "Wrong#000"


def login(server: Server, password: str, username: str = "admin") -> requests.Response:
    return requests.post(server.url + "/api/v1/session", timeout=30,
                         json={"username": username, "password": password})


def assert_locked(res: requests.Response, at_most: int) -> None:
    assert res.status_code == 423, res.text
    assert res.json()["error_id"] == "locked"
    assert 0 < int(res.headers["Retry-After"]) <= at_most
    assert int(res.headers["Retry-After"]) == res.json()["retry_after"]
    assert "set-cookie" not in {k.lower() for k in res.headers}


def fail(server: Server, times: int, username: str = "admin") -> list[requests.Response]:
    return [login(server, WRONG, username) for _ in range(times)]


def test_fifth_wrong_password_locks_and_the_lock_survives_a_restart(configured: Server) -> None:
    answers = fail(configured, 4)
    assert [r.status_code for r in answers] == [401] * 4
    assert [r.json()["error_id"] for r in answers] == ["unauthorized"] * 4
    assert [r.json()["left"] for r in answers] == [4, 3, 2, 1]
    assert_locked(login(configured, WRONG), 180)
    # Locked: the right password does not help either.
    assert_locked(login(configured, ADMIN_PASSWORD), 180)
    # The lock is per user name: another name is not locked.
    assert login(configured, WRONG, "operator").status_code == 401
    # ... and it is kept across a restart of the control plane.
    configured.restart()
    assert_locked(login(configured, ADMIN_PASSWORD), 180)
    assert_locked(login(configured, WRONG), 180)


def test_fewer_than_five_then_the_right_one_resets_the_count(configured: Server) -> None:
    assert [r.status_code for r in fail(configured, 4)] == [401] * 4
    assert login(configured, ADMIN_PASSWORD).status_code == 200
    # Counting starts again: four more wrong ones do not lock.
    answers = fail(configured, 4)
    assert [r.status_code for r in answers] == [401] * 4
    assert answers[0].json()["left"] == 4
    assert login(configured, ADMIN_PASSWORD).status_code == 200
    # Failures are counted across a restart too (the count is stored, not only the lock).
    fail(configured, 3)
    configured.restart()
    assert [r.status_code for r in fail(configured, 2)] == [401, 423]


@pytest.fixture
def short_lock(tmp_path: Path):
    with configured_server(tmp_path, vcbox_lockout_s="2") as srv:
        yield srv


def test_the_lock_ends_after_the_lockout_time(short_lock: Server) -> None:
    answers = fail(short_lock, 5)
    assert [r.status_code for r in answers] == [401] * 4 + [423]
    assert_locked(answers[-1], 2)
    locked_at = time.monotonic()
    assert_locked(login(short_lock, ADMIN_PASSWORD), 2)
    time.sleep(max(0.0, 2.2 - (time.monotonic() - locked_at)))
    res = login(short_lock, ADMIN_PASSWORD)
    assert res.status_code == 200, res.text
    assert res.json()["csrf_token"]
    # After a lock, the count starts from zero.
    assert fail(short_lock, 1)[0].json()["left"] == 4
