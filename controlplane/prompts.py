"""The IVR prompts (SPEC C5), spoken from the message catalog (DESIGN §4).

FreeSWITCH's sound packages cannot be fetched here: vcbox speaks its own prompts with
espeak-ng and resamples them with sox, one folder per IVR language, laid out the way
FreeSWITCH plays from `sound_prefix` = $${sounds_dir}/vcbox/<lang> (vars.xml):

    <out>/<lang>/ivr/<rate>/<name>.wav    vcbox's prompts (PROMPTS)
    <out>/<lang>/digits/<rate>/<n>.wav    what mod_say_<lang> plays for numbers

mod_sndfile opens `<dir>/<rate>/<file>` for a channel at <rate> (else 48000, 32000,
16000), so `ivr/welcome.wav` is ivr/8000/welcome.wav on a G.711 call and
ivr/48000/welcome.wav on an Opus one. Every file is mono 16-bit PCM at each of RATES.

`say <lang> number iterated <digits>` plays digits/<d>.wav per digit (both modules);
`say <lang> number pronounced <0..59>` plays, in mod_say_en, digits/0..19 or
digits/<t>0 then digits/<u> (20, 30, 40, 50); in mod_say_zh, digits/<t> (not for 1x),
digits/10 and digits/<u> (35 = 3, 10, 5): the digits of VOICES. (mod_say_en plays its
files as one file_string://digits/4.wav!digits/2.wav, mod_say_zh one file at a time; the
sound-prefix is the one of the language in freeswitch.xml's languages section.)

<out>/manifest.json records what made each file (text, voice, tool versions, sound
processing): a run makes only the files whose inputs changed and removes those no
longer wanted; when nothing changed it writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from controlplane import i18n
from controlplane.i18n import N_

# Bump when the sound processing changes: every file is made again.
GENERATOR = 1
RATES = (8000, 16000, 48000)
MANIFEST = "manifest.json"
TIMEOUT_S = 60.0

# File name (ivr/<name>.wav) -> English msgid; the dialplan plays them by these names.
PROMPTS: dict[str, str] = {
    "welcome": N_("Welcome to the video conference service."),
    "enter-meeting-id": N_("Please enter the meeting ID, followed by the pound key."),
    "invalid-meeting-id": N_("That meeting ID is not valid."),
    "enter-password": N_("Please enter the meeting password, followed by the pound key."),
    "wrong-password": N_("The password is incorrect."),
    "goodbye": N_("Goodbye."),
    # followed by `say number pronounced <hour>`, hour, `say ... <minute>`, minute
    "not-started": N_("The meeting has not started yet. It starts at"),
    "hour": N_("o'clock"),
    "minute": N_("minutes"),
    "meeting-ended": N_("This meeting has ended."),
    # followed by `say number iterated <id>`
    "your-meeting-id": N_("Your meeting ID is"),
    "not-licensed": N_("The conference service is not licensed. "
                       "Please contact your administrator."),
    "audio-only": N_("The video capacity of the server is reached. "
                     "You join with audio only."),
    # mod_conference's locked/alone/muted/unmuted/kicked sounds (conference.conf.xml)
    "locked": N_("This meeting is locked."),
    "alone": N_("You are the first participant."),
    "muted": N_("You are muted."),
    "unmuted": N_("You are unmuted."),
    "kicked": N_("You have been removed from the meeting."),
}

_EN_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
               "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
               "sixteen", "seventeen", "eighteen", "nineteen")


@dataclass(frozen=True)
class Voice:
    catalog: str                        # the controlplane.i18n language of the texts
    espeak: str                         # espeak-ng voice
    speed: int                          # espeak-ng words per minute
    digits: tuple[tuple[str, str], ...]  # (digits/<name>.wav, its text)


VOICES: dict[str, Voice] = {
    # Debian 12's espeak-ng 1.51 `cmn` voice reads the pinyin of its own dictionary with
    # English rules ("qing3" as "king three"; espeak-ng issues 1236, 1370): the
    # `cmn-latn-pinyin` voice speaks the same Mandarin right. It reads Latin letters as
    # pinyin, so the zh texts hold none (tests/unit/test_prompts.py).
    "zh": Voice("zh_CN", "cmn-latn-pinyin", 150,
                tuple((str(n), text) for n, text in enumerate("零一二三四五六七八九十"))),
    "en": Voice("en", "en-us", 150,
                tuple((str(n), text) for n, text in enumerate(_EN_NUMBERS))
                + tuple((f"{t}0", text) for t, text in
                        ((2, "twenty"), (3, "thirty"), (4, "forty"), (5, "fifty")))),
}

# sox effects: trim the synthesizer's silence, peak at -3 dBFS; then a short pause around
EFFECTS = ("silence", "1", "0.01", "0.1%", "reverse", "silence", "1", "0.01", "0.1%",
           "reverse", "gain", "-n", "-3")
PAD = {"ivr": ("pad", "0.1", "0.25"), "digits": ("pad", "0.03", "0.07")}


class PromptError(Exception):
    """A tool is missing or failed."""


@dataclass(frozen=True)
class Outcome:
    made: int       # sounds spoken (each written at every rate)
    removed: int    # sounds no longer wanted, deleted
    kept: int       # sounds already up to date
    seconds: float

    @property
    def up_to_date(self) -> bool:
        return not self.made and not self.removed

    def summary(self) -> str:
        if self.up_to_date:
            return f"{self.kept} prompts up to date ({self.seconds:.2f} s)"
        return (f"{self.made} prompts made at {len(RATES)} rates, {self.removed} removed, "
                f"{self.kept} kept in {self.seconds:.1f} s")


def texts(language: str) -> dict[str, str]:
    """What each sound of an IVR language says: {"ivr/welcome": ..., "digits/7": ...}."""
    voice = VOICES[language]
    out = {f"ivr/{name}": i18n.translate(voice.catalog, msgid)
           for name, msgid in PROMPTS.items()}
    out.update({f"digits/{name}": text for name, text in voice.digits})
    return out


def catalog() -> dict[str, dict[str, str]]:
    return {language: texts(language) for language in VOICES}


def paths(sound: str) -> list[Path]:
    """The files of "zh/ivr/welcome", relative to the output folder, one per rate."""
    folder, _, name = sound.rpartition("/")
    return [Path(folder, str(rate), f"{name}.wav") for rate in RATES]


def tool_versions() -> dict[str, str]:
    versions = {}
    for tool in ("espeak-ng", "sox"):
        try:
            res = subprocess.run([tool, "--version"], capture_output=True, text=True,
                                 timeout=TIMEOUT_S, check=False)
        except FileNotFoundError:
            raise PromptError(f"{tool} is not installed (scripts/setup.sh installs it)"
                              ) from None
        # espeak-ng names its data folder after the version: not part of what it says.
        versions[tool] = (res.stdout or res.stderr).strip().split("  Data at:")[0]
    return versions


def generate(out: Path, jobs: int = 0,
             sounds: dict[str, dict[str, str]] | None = None) -> Outcome:
    """Make every prompt of `sounds` (default: catalog()) under out, as the module
    docstring lays out; jobs: sounds spoken at once (0: twice the CPUs)."""
    started = time.monotonic()
    sounds = catalog() if sounds is None else sounds
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out / ".lock"):
        tools = tool_versions()
        wanted = {f"{language}/{path}": (VOICES[language], text)
                  for language, items in sounds.items() for path, text in items.items()}
        keys = {sound: _key(tools, voice, sound, text)
                for sound, (voice, text) in wanted.items()}
        before = _read_manifest(out)
        todo = [sound for sound in wanted if before.get(sound) != keys[sound]
                or not all((out / p).is_file() for p in paths(sound))]
        stale = sorted(set(before) - set(wanted))
        if not todo and not stale:
            return Outcome(0, 0, len(wanted), time.monotonic() - started)
        for sound in stale:
            for path in paths(sound):
                (out / path).unlink(missing_ok=True)
                for folder in (out / path).parents[:len(path.parts) - 1]:
                    with contextlib.suppress(OSError):  # not empty: other sounds are there
                        folder.rmdir()
        done = {sound: key for sound, key in before.items()
                if sound in wanted and sound not in todo}
        # Each sound is short-lived processes: twice the CPUs keeps them all busy.
        workers = max(1, min(jobs or 2 * (os.cpu_count() or 1), len(todo)))
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for sound in pool.map(lambda s: _speak(out, s, *wanted[s]), todo):
                    done[sound] = keys[sound]
        finally:  # what was made before a failure is not made again
            _write_manifest(out, tools, done)
    return Outcome(len(todo), len(stale), len(wanted) - len(todo),
                   time.monotonic() - started)


def _key(tools: dict[str, str], voice: Voice, sound: str, text: str) -> str:
    kind = sound.split("/")[1]
    recipe = [GENERATOR, tools, RATES, voice.espeak, voice.speed, EFFECTS, PAD[kind], text]
    return hashlib.sha256(json.dumps(recipe, ensure_ascii=False).encode()).hexdigest()


def _speak(out: Path, sound: str, voice: Voice, text: str) -> str:
    speech = _run(["espeak-ng", "-v", voice.espeak, "-s", str(voice.speed), "--stdout"],
                  text.encode())
    kind = sound.split("/")[1]
    for rate, path in zip(RATES, paths(sound), strict=True):
        dest = out / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            _run(["sox", "-t", "wav", "-", "-t", "wav", "-r", str(rate), "-c", "1", "-b",
                  "16", "-e", "signed-integer", str(tmp), *EFFECTS, *PAD[kind]], speech)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    return sound


def _run(argv: list[str], data: bytes) -> bytes:
    try:
        res = subprocess.run(argv, input=data, capture_output=True, timeout=TIMEOUT_S,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PromptError(f"{argv[0]}: {exc}") from exc
    if res.returncode != 0:
        raise PromptError(f"{' '.join(argv[:3])}: exit {res.returncode}: "
                          f"{res.stderr.decode('utf-8', 'replace').strip()[-500:]}")
    return res.stdout


def _read_manifest(out: Path) -> dict[str, str]:
    try:
        files = json.loads((out / MANIFEST).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def _write_manifest(out: Path, tools: dict[str, str], files: dict[str, str]) -> None:
    doc = {"generator": GENERATOR, "tools": tools, "rates": list(RATES),
           "files": dict(sorted(files.items()))}
    tmp = out / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, out / MANIFEST)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One generator at a time per folder (setup and a starting FreeSWITCH may race)."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- python -m controlplane prompts ------------------------------------------------------

HELP = ("speak the IVR prompts (zh, en) from the message catalog into a folder FreeSWITCH "
        "plays from; does nothing when they are up to date")


def add_parser(sub: argparse._SubParsersAction, default_out: Path) -> None:
    _arguments(sub.add_parser("prompts", help=HELP, description=HELP), default_out)


def _arguments(parser: argparse.ArgumentParser, default_out: Path) -> None:
    parser.add_argument("--out", type=Path, default=default_out,
                        help=f"output folder (default: VCBOX_PROMPTS or {default_out})")
    parser.add_argument("--jobs", type=int, default=0,
                        help="sounds made at once (default: twice the CPUs)")
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    try:
        outcome = generate(args.out, args.jobs)
    except (PromptError, OSError) as exc:
        print(f"prompts: {exc}", file=sys.stderr)
        return 1
    print(f"prompts: {outcome.summary()} ({args.out})", flush=True)
    return 0


if __name__ == "__main__":
    # The same as `python -m controlplane prompts`, without the control plane's other
    # imports (0.3 s instead of 0.8 s): scripts/setup.sh runs it on every call.
    from controlplane.config import prompts_dir_from

    cli = argparse.ArgumentParser(prog="python -m controlplane.prompts", description=HELP)
    _arguments(cli, prompts_dir_from())
    sys.exit(run_command(cli.parse_args()))
