"""The IVR prompts (controlplane/prompts.py): every prompt has its Chinese text, the files
are what mod_say_en / mod_say_zh and the dialplan play, laid out by rate the way
mod_sndfile looks them up, and a second run with nothing changed does nothing.

The speech itself is made by the real espeak-ng and sox (a few sounds here; all of them
in tests/integration/test_prompts_real.py, where FreeSWITCH plays them).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from controlplane import i18n, prompts
from controlplane.__main__ import main
from controlplane.app import Services
from controlplane.config import REPO, Config, prompts_dir_from
from controlplane.drivers import processes
from tests.components import require
from tests.unit.test_freeswitch_templates import context, params, parse

# The names the dialplan plays (issue 11): ivr/<name>.wav.
DIALPLAN_NAMES = {
    "welcome", "enter-meeting-id", "invalid-meeting-id", "enter-password", "wrong-password",
    "goodbye", "not-started", "hour", "minute", "meeting-ended", "your-meeting-id",
    "not-licensed", "audio-only", "locked", "alone", "muted", "unmuted", "kicked",
}


# -- the texts -------------------------------------------------------------------------------

def test_the_prompt_names_are_the_ones_the_dialplan_plays() -> None:
    assert set(prompts.PROMPTS) == DIALPLAN_NAMES


def test_every_prompt_has_a_chinese_translation() -> None:
    with open(i18n.CATALOG_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    for name, msgid in prompts.PROMPTS.items():
        entry = catalog.get(msgid)
        assert entry is not None and entry.string, f"{name}: {msgid!r} has no zh_CN entry"
        assert not entry.fuzzy, f"{name}: fuzzy"
    zh, en = prompts.texts("zh"), prompts.texts("en")
    assert en["ivr/goodbye"] == "Goodbye."
    assert zh["ivr/goodbye"] == "再见。"
    assert (zh["ivr/hour"], zh["ivr/minute"]) == ("点", "分")
    for path, text in zh.items():
        assert text != en.get(path), f"{path} is not translated"
        # the Mandarin voice reads Latin letters as pinyin
        assert not re.search(r"[A-Za-z]", text), f"{path}: {text!r} holds Latin letters"


# -- what mod_say plays ------------------------------------------------------------------------
# Models of the number methods of mod_say_en.c and mod_say_zh.c (FreeSWITCH 1.10), for the
# numbers the IVR says: meeting IDs digit by digit, hours and minutes 0..59 as numbers.

def say_en(method: str, digits: str) -> list[str]:
    if method == "iterated":
        return list(digits)
    n = int(digits)
    if n == 0:
        return ["0"]
    tens, units = divmod(n, 10)
    if tens == 1:
        return [f"1{units}"]
    return ([f"{tens}0"] if tens else []) + ([str(units)] if units else [])


def say_zh(method: str, digits: str) -> list[str]:
    n = int(digits)
    if n == 0:
        return ["0"]
    if method == "iterated":
        return list(digits)
    tens, units = divmod(n, 10)  # below 100: no leading columns, so no 一十 and no 零
    return ([str(tens)] if tens > 1 else []) + (["10"] if tens else []) + (
        [str(units)] if units else [])


SAY = {"en": say_en, "zh": say_zh}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_digits_are_exactly_what_mod_say_plays(language: str) -> None:
    made = {name for name, _text in prompts.VOICES[language].digits}
    needed = {f for n in range(60) for f in SAY[language]("pronounced", str(n))}
    needed |= {f for d in "0123456789" for f in SAY[language]("iterated", d)}
    assert made == needed


def test_numbers_in_each_language() -> None:
    assert say_zh("pronounced", "35") == ["3", "10", "5"]
    assert say_zh("pronounced", "12") == ["10", "2"]
    assert say_zh("pronounced", "20") == ["2", "10"]
    assert say_en("pronounced", "47") == ["40", "7"]
    assert say_en("pronounced", "13") == ["13"]
    assert say_en("iterated", "9021") == ["9", "0", "2", "1"]
    zh = prompts.texts("zh")
    assert "".join(zh[f"digits/{f}"] for f in say_zh("pronounced", "35")) == "三十五"


# -- the rendered configs play these files ---------------------------------------------------

@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data = tmp_path_factory.mktemp("prompts-fs")
    services = Services.open(Config(data_dir=data / "data", root=data / "root"))
    yield services
    services.close()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_rendered_configs_play_vcbox_prompts(services: Services, language: str) -> None:
    docs = parse(context(services, call={"ivr_language": language}))
    for node in docs["autoload_configs/conference.conf.xml"].iterfind("./profiles/profile"):
        values = params(node, "./param")
        assert values["sound-prefix"] == f"$${{sounds_dir}}/vcbox/{language}"
        sounds = {k: v for k, v in values.items() if k.endswith("-sound") and v.endswith(".wav")}
        assert {"muted-sound", "unmuted-sound", "alone-sound", "kicked-sound",
                "locked-sound"} <= set(sounds)
        for param, value in sounds.items():
            folder, _, name = value.partition("/")
            assert folder == "ivr" and name.removesuffix(".wav") in prompts.PROMPTS, param
    # `say` takes the say module and the sound prefix from the languages section
    languages = {node.get("name"): node for node in docs["freeswitch.xml"].iterfind(
        "./section[@name='languages']/language")}
    assert set(languages) == set(prompts.VOICES)
    for name, node in languages.items():
        assert node.get("say-module") == name
        assert node.get("sound-prefix") == f"$${{sounds_dir}}/vcbox/{name}"
        assert node.find("./phrases/macros") is not None  # FreeSWITCH refuses it without


# -- generating --------------------------------------------------------------------------------

SOME = {"zh": {"ivr/welcome": "欢迎使用视频会议服务。", "digits/7": "七"},
        "en": {"ivr/goodbye": "Goodbye.", "digits/40": "forty"}}


def wav_files(out: Path) -> dict[str, tuple[int, int, int, int]]:
    """{relative path: (channels, sample width, rate, frames)}."""
    found = {}
    for path in sorted(out.rglob("*.wav")):
        with wave.open(str(path)) as w:
            found[str(path.relative_to(out))] = (w.getnchannels(), w.getsampwidth(),
                                                 w.getframerate(), w.getnframes())
    return found


def stamps(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file()}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    require("espeak-ng", "sox")
    return tmp_path / "prompts"


def test_the_layout_is_lang_folder_rate_name(out: Path) -> None:
    outcome = prompts.generate(out, sounds=SOME)
    assert (outcome.made, outcome.removed, outcome.kept) == (4, 0, 0)
    files = wav_files(out)
    assert set(files) == {f"{lang}/{folder}/{rate}/{name}.wav"
                          for lang, items in SOME.items() for path in items
                          for folder, name in [path.split("/")] for rate in prompts.RATES}
    for path, (channels, width, rate, frames) in files.items():
        assert (channels, width) == (1, 2), path  # mono, 16-bit
        assert rate == int(path.split("/")[2]), path
        assert frames > 0.2 * rate, path
    # the same speech at each rate: the same length
    lengths = [files[f"zh/ivr/{rate}/welcome.wav"][3] / rate for rate in prompts.RATES]
    assert max(lengths) - min(lengths) < 0.01
    assert 1.0 < lengths[0] < 6.0
    assert (out / prompts.MANIFEST).is_file()


def test_nothing_changed_nothing_done(out: Path) -> None:
    prompts.generate(out, sounds=SOME)
    before = stamps(out)
    again = prompts.generate(out, sounds=SOME)
    assert again.up_to_date and again.kept == 4
    assert stamps(out) == before


def test_only_what_changed_is_made_again(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts.generate(out, sounds=SOME)
    before = stamps(out)
    changed = {"zh": {**SOME["zh"], "digits/7": "七。"}, "en": dict(SOME["en"])}
    del changed["en"]["digits/40"]
    outcome = prompts.generate(out, sounds=changed)
    assert (outcome.made, outcome.removed, outcome.kept) == (1, 1, 2)
    after = stamps(out)
    assert {p for p in after if after[p] != before.get(p)} == {
        f"zh/digits/{rate}/7.wav" for rate in prompts.RATES} | {prompts.MANIFEST}
    assert not (out / "en" / "digits").exists()  # the emptied folders go too
    # a file deleted by hand is made again
    (out / "zh/ivr/16000/welcome.wav").unlink()
    assert prompts.generate(out, sounds=changed).made == 1
    assert (out / "zh/ivr/16000/welcome.wav").is_file()
    # another espeak-ng or sox: everything is made again
    versions = prompts.tool_versions()
    monkeypatch.setattr(prompts, "tool_versions", lambda: {**versions, "sox": "SoX v99"})
    assert prompts.generate(out, sounds=changed).made == 3


def test_a_missing_tool_is_said(out: Path, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(prompts.PromptError, match="espeak-ng is not installed"):
        prompts.generate(out, sounds=SOME)


def test_the_subcommand(out: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(prompts, "catalog", lambda: SOME)
    assert main(["prompts", "--out", str(out), "--jobs", "2"]) == 0
    assert "4 prompts made at 3 rates" in capsys.readouterr().out
    assert main(["prompts", "--out", str(out)]) == 0
    assert "4 prompts up to date" in capsys.readouterr().out


def test_the_subcommand_is_listed_and_runs_without_the_control_plane() -> None:
    listed = subprocess.run([sys.executable, "-m", "controlplane", "--help"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    assert re.search(r"^\s+prompts\s", listed, re.M), listed
    alone = subprocess.run([sys.executable, "-m", "controlplane.prompts", "--help"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout
    assert "--out OUT" in alone and "VCBOX_PROMPTS" in alone


def test_where_the_prompts_are_made(tmp_path: Path) -> None:
    assert prompts_dir_from({}) == REPO / ".cache" / "prompts"
    assert prompts_dir_from({"VCBOX_PROMPTS": str(tmp_path / "p")}) == tmp_path / "p"


# -- local mode: FreeSWITCH's sounds folder under ROOT ----------------------------------------

def test_local_freeswitch_plays_from_root(tmp_path: Path) -> None:
    argv = processes.freeswitch_argv(tmp_path, "/usr/bin/freeswitch")
    assert argv[argv.index("-sounds") + 1] == str(tmp_path / "usr/share/freeswitch/sounds")


def test_local_mode_links_the_prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    made: list[Path] = []
    source = tmp_path / "cache"
    monkeypatch.setenv("VCBOX_PROMPTS", str(source))
    monkeypatch.setattr(prompts, "generate", lambda out: made.append(out) or
                        prompts.Outcome(71, 0, 0, 1.0))
    root = tmp_path / "root"
    link = root / "usr/share/freeswitch/sounds/vcbox"
    processes.freeswitch_prepare(root)
    assert made == [source]  # made (or found up to date) before FreeSWITCH starts
    assert link.is_symlink() and link.resolve() == source.resolve()
    # another VCBOX_PROMPTS: the link follows
    monkeypatch.setenv("VCBOX_PROMPTS", str(tmp_path / "other"))
    processes.freeswitch_prepare(root)
    assert link.readlink() == tmp_path / "other"

    def broken(out: Path) -> prompts.Outcome:
        raise prompts.PromptError("sox is not installed")

    # no tools: FreeSWITCH still starts (its IVR silent), and the log says why
    monkeypatch.setattr(prompts, "generate", broken)
    with caplog.at_level(logging.WARNING, logger=processes.log.name):
        processes.freeswitch_prepare(root)
    assert "sox is not installed" in caplog.text
    # a real folder there (files put in by hand) is left alone
    link.unlink()
    link.mkdir()
    processes.freeswitch_prepare(root)
    assert link.is_dir() and not link.is_symlink()


def test_the_freeswitch_spec_prepares_before_each_start() -> None:
    assert processes.SPECS["freeswitch"].prepare is processes.freeswitch_prepare
