"""The IVR prompts (issue 11, SPEC C5) played by the real FreeSWITCH: the control plane runs
it as a child process (local mode, VCBOX_LOCAL_SERVICES=freeswitch) on the files it
renders, with $${sounds_dir} under ROOT and ROOT/usr/share/freeswitch/sounds/vcbox
linked to the prompts `python -m controlplane prompts` made with espeak-ng and sox.

Calls are `null` channels (mod_loopback) that play a prompt or say a number; the events
(PLAYBACK_START / PLAYBACK_STOP, channel variables included) name the file FreeSWITCH
opened and how many samples it played: the file's own length, so it found and played that
very file (a file it cannot open gives no PLAYBACK_START at all). The language follows the
call settings (ivr_language zh, then en after a PUT).

FreeSWITCH binds fixed ports on 127.0.0.1 (SIP 5060/5061, ESL 8021, directory 8089): one
module-scoped instance, the tests in order.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
import wave
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controlplane import prompts
from controlplane.drivers.esl import Esl, EslEvent
from controlplane.drivers.processes import PROMPTS_LINK, freeswitch_esl, freeswitch_prepare
from tests.components import require
from tests.conftest import REPO
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import licensed_server

RATE = 8000  # a null channel runs at 8 kHz: mod_sndfile opens <dir>/8000/<file>


@dataclass(frozen=True)
class Made:
    out: Path
    cold: str
    cold_s: float
    warm: str
    warm_s: float



def cli(out: Path) -> tuple[str, float]:
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "controlplane", "prompts", "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip(), time.monotonic() - started


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    require("freeswitch", "espeak-ng", "sox")
    out = tmp_path_factory.mktemp("prompts") / "cache"
    cold, cold_s = cli(out)
    warm, warm_s = cli(out)
    return Made(out, cold, cold_s, warm, warm_s)


@pytest.fixture(scope="module")
def box(made: Made, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    assert_ports_free()
    folder = tmp_path_factory.mktemp("freeswitch")
    with licensed_server(folder, VCBOX_LOCAL_SERVICES="freeswitch",
                         VCBOX_DIRECTORY_PORT="8089", VCBOX_PROMPTS=str(made.out)) as srv:
        yield srv


@pytest.fixture(scope="module")
def root(box: Any) -> Path:
    return box.data / "root"


@pytest.fixture(scope="module")
def esl(root: Path) -> Iterator[Esl]:
    client = freeswitch_esl(root, timeout=10.0)
    yield client
    client.close()


class Calls:
    """Calls that run one application each, and the events of each call."""

    def __init__(self, esl: Esl) -> None:
        self.esl = esl
        self.events: dict[str, list[EslEvent]] = defaultdict(list)
        self.ended: dict[str, threading.Event] = defaultdict(threading.Event)
        for name in ("PLAYBACK_START", "PLAYBACK_STOP", "CHANNEL_HANGUP_COMPLETE"):
            esl.on_event(name, self._seen)
        esl.subscribe("PLAYBACK_START PLAYBACK_STOP CHANNEL_HANGUP_COMPLETE")

    def _seen(self, event: EslEvent) -> None:
        call = event.get("Unique-ID") or ""
        if event.name == "CHANNEL_HANGUP_COMPLETE":
            self.ended[call].set()
        else:
            self.events[call].append(event)

    def run(self, app: str, arg: str) -> list[tuple[str, str, str, int]]:
        """(event, Playback-File-Path, Playback-Status, samples played) of the call."""
        call = str(uuid.uuid4())
        answer = self.esl.api(f"originate {{origination_uuid={call},verbose_events=true}}"
                              f"null/vcbox '&{app}({arg})'", timeout=30)
        assert answer.startswith("+OK"), answer
        assert self.ended[call].wait(60), f"{app}({arg}) did not end"
        return [(e.name, e.get("Playback-File-Path") or "", e.get("Playback-Status") or "",
                 int(e.get("variable_playback_samples") or -1)) for e in self.events[call]]


@pytest.fixture(scope="module")
def calls(esl: Esl) -> Calls:
    return Calls(esl)


def frames(path: Path) -> int:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        return w.getnframes()


def sound(made: Made, language: str, name: str) -> Path:
    """The generated file FreeSWITCH opens for <sound_prefix>/<folder>/<name>."""
    folder, _, file = name.rpartition("/")
    return made.out / language / folder / str(RATE) / file


def played_once(events: list[tuple[str, str, str, int]], path: str, length: int) -> None:
    """One playback of this file, played to its end, every sample of it."""
    assert [(e[0], e[1]) for e in events] == [("PLAYBACK_START", path), ("PLAYBACK_STOP", path)]
    assert events[1][2] == "done"
    assert events[1][3] == length


def settings(box: Any, language: str) -> None:
    client = box.client()
    assert client.login().status_code == 200
    res = client.put("/api/v1/settings/call", json={"ivr_language": language})
    assert res.status_code == 200, res.text


def test_the_subcommand_makes_every_prompt_once(made: Made) -> None:
    count = sum(len(prompts.texts(language)) for language in prompts.VOICES)
    assert made.cold.startswith(f"prompts: {count} prompts made at 3 rates"), made.cold
    assert made.warm.startswith(f"prompts: {count} prompts up to date"), made.warm
    assert len(list(made.out.rglob("*.wav"))) == count * len(prompts.RATES)
    print(f"\nprompts: cold {made.cold_s:.1f} s ({made.cold}); warm {made.warm_s:.2f} s")


def test_freeswitch_plays_from_the_prompts_under_root(root: Path, esl: Esl,
                                                       made: Made) -> None:
    sounds = root / "usr/share/freeswitch/sounds"
    assert esl.api("global_getvar sounds_dir").strip() == str(sounds)
    assert (root / PROMPTS_LINK).resolve() == made.out.resolve()
    assert esl.api("global_getvar sound_prefix").strip() == str(sounds / "vcbox" / "zh")
    assert esl.api("global_getvar default_language").strip() == "zh"


def test_a_chinese_prompt_plays(root: Path, calls: Calls, made: Made) -> None:
    events = calls.run("playback", "ivr/enter-meeting-id.wav")
    played_once(events, str(root / PROMPTS_LINK / "zh/ivr/enter-meeting-id.wav"),
                frames(sound(made, "zh", "ivr/enter-meeting-id.wav")))
    # what FreeSWITCH cannot open it does not play: the events above mean the file
    assert calls.run("playback", "ivr/no-such-prompt.wav") == []


def test_say_plays_the_chinese_digits(root: Path, calls: Calls, made: Made) -> None:
    for method, number, files in (("pronounced", "35", ["3", "10", "5"]),
                                  ("iterated", "2024", ["2", "0", "2", "4"])):
        events = calls.run("say", f"zh number {method} {number}")
        assert len(events) == 2 * len(files), events
        for i, name in enumerate(files):
            played_once(events[2 * i:2 * i + 2],
                        str(root / PROMPTS_LINK / f"zh/digits/{name}.wav"),
                        frames(sound(made, "zh", f"digits/{name}.wav")))


def test_english_once_the_setting_says_so(box: Any, root: Path, esl: Esl, calls: Calls,
                                          made: Made) -> None:
    settings(box, "en")
    try:
        prefix = root / PROMPTS_LINK / "en"
        assert esl.api("global_getvar sound_prefix").strip() == str(prefix)
        played_once(calls.run("playback", "ivr/enter-meeting-id.wav"),
                    str(prefix / "ivr/enter-meeting-id.wav"),
                    frames(sound(made, "en", "ivr/enter-meeting-id.wav")))
        played_once(calls.run("playback", "ivr/muted.wav"), str(prefix / "ivr/muted.wav"),
                    frames(sound(made, "en", "ivr/muted.wav")))
        # mod_say_en plays its files as one file_string:// (with a short pause after):
        # every sample of each file, nothing of a file vcbox does not make
        pause = RATE // 3
        for method, number, files in (("iterated", "42", ["4", "2"]),
                                      ("pronounced", "47", ["40", "7"]),
                                      ("pronounced", "13", ["13"]),
                                      ("pronounced", "100", ["1"])):  # digits/hundred: none
            events = calls.run("say", f"en number {method} {number}")
            assert [e[0] for e in events] == ["PLAYBACK_START", "PLAYBACK_STOP"], events
            assert events[1][2] == "done"
            if number != "100":
                assert events[1][1] == "file_string://" + "!".join(
                    f"digits/{f}.wav" for f in files)
            length = sum(frames(sound(made, "en", f"digits/{f}.wav")) for f in files)
            assert length <= events[1][3] <= length + pause, (number, events)
        log = (root / "var/log/freeswitch/freeswitch.log").read_text(errors="replace")
        assert f"Error Opening File [{prefix}/digits/hundred.wav]" in log
        assert f"Error Opening File [{prefix}/digits/1.wav]" not in log
    finally:
        settings(box, "zh")
    assert esl.api("global_getvar sound_prefix").strip() == str(root / PROMPTS_LINK / "zh")


def test_local_mode_makes_missing_prompts_first(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    require("espeak-ng", "sox")
    monkeypatch.setenv("VCBOX_PROMPTS", str(tmp_path / "none-yet"))
    freeswitch_prepare(tmp_path / "root")
    link = tmp_path / "root" / PROMPTS_LINK
    assert link.resolve() == (tmp_path / "none-yet").resolve()
    count = sum(len(prompts.texts(language)) for language in prompts.VOICES)
    assert len(list(link.rglob("*.wav"))) == count * len(prompts.RATES)
    assert (link / "zh/ivr/48000/welcome.wav").is_file()
