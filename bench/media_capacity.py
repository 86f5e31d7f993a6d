"""Figure 8: how many participants one mux meeting holds on this machine before quality
breaks (issue 16 item 1), with the references printed beside it, in one run.

FreeSWITCH runs alone (no control plane: nothing to ask over mod_xml_curl, nobody to post
call records to) from the configuration the control plane renders: a Server renders it
for the call setting max_video_resolution 720p30 and again for 1080p30, and each render is
copied out. Every ramp starts a fresh FreeSWITCH from one of them.

Participants are SIPp terminals (tests/sipp.py) that FreeSWITCH calls (`originate ...
&conference(cap@default)`, the rendered "default" profile: video-mode mux,
minimize-video-encoding, the equal layout) and that answer with real media
(tests/media.py): G.711 A-law audio (SIPp's rtp_stream) and a moving test picture at
720p30 (1.5 Mbit/s) or 1080p30 (2 Mbit/s) in VP8 or H.264 (a capture), or audio only
(G.711, or Opus from a capture). All of them send all the time, talking at once: the
mixer's worst case. Beyond the equal layout's slots (4x4: 16) participants are still in the
meeting, heard and sending video (FreeSWITCH still reads and decodes it), just not shown.
One SIPp takes the calls of the crowd; one more, the observer, has ports of its own, and
what FreeSWITCH sends it is read off the loopback by a packet socket with a BPF filter on
its two ports (Linux, root: the bench runs in a private network namespace).

The ramp adds participants level by level; each level settles SETTLE_S, then is measured
for --duration seconds (MAX_WINDOW_S at most; a whole run of the figure took 6 minutes on
2 cores at `--duration 3`, the short mode). Quality has broken at a level when
- the CPU the meeting takes (FreeSWITCH, the SIPp terminals and this bench, from
  /proc/<pid>/stat, as a share of the whole machine) is at CPU_LIMIT or above: on a
  machine of its own that is the machine's CPU (/proc/stat), printed beside; other
  processes' share is printed too, and a level where they took more than OTHERS_LIMIT
  is marked NOISY (the frame rate and audio limits can then break early, so a level
  that broke while NOISY is measured again, NOISY_RETRIES times at most), or
- the canvas frame rate FreeSWITCH sends (distinct RTP timestamps of the observer's video;
  with minimize-video-encoding every member of a codec group gets the same frames) is
  below FPS_LIMIT, or
- audio loss is above LOSS_LIMIT: the largest of the participants' audio packets dropped
  at FreeSWITCH's sockets (the drops column of /proc/net/udp for each member's
  local_media_port), the observer's mixed audio missing by sequence number, and that
  audio arriving slower than one packet per 20 ms.
The figure of a ramp is its last level before the break (">= N" when nothing broke). When
a target is missed the bench says where the time goes: FreeSWITCH's busiest threads
(/proc/<pid>/task) at the breaking level, and `perf record` of FreeSWITCH there by
shared object and by symbol.

Targets (issue 16): >= 8 participants per core at 720p30 (each 720p30 ramp) and >= 50
audio-only G.711 participants per core. The other ramps (1080p30, Opus) are figures
without a target.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

from bench.accounts import Session
from bench.harness import BenchError, Options, Result, Server, cpu_seconds, nproc
from bench.meeting_calls import freeswitch_alone
from bench.sip_register import FIXED_PORTS, call_port_taken
from controlplane.drivers.esl import Esl, EslError
from controlplane.drivers.processes import FREESWITCH_DIR, freeswitch_esl
from tests import media
from tests.sipp import (
    Terminal,
    offer_sdp,
    offered_payload_type,
    parse_sdp,
    trace_messages,
    video_answer_scenario,
)

NAME = "media_capacity"
TITLE = "participants one mux meeting holds before quality breaks"
CPU_LIMIT = 0.85
FPS_LIMIT = 25.0
LOSS_LIMIT = 0.01
OTHERS_LIMIT = 0.10      # other processes' share above which a level is marked noisy
NOISY_RETRIES = 2        # a level that broke while noisy is measured again, this often
TARGET_720P_PER_CORE = 8
TARGET_AUDIO_PER_CORE = 50
SETTLE_S = 3.0           # after a level's joins, before it is measured
RAMP_BUDGET_S = 120.0    # a ramp stops adding levels after this long (">= N")
MAX_WINDOW_S = 5.0       # --duration above this is cut to it (make bench's 10 s default)
JOIN_BATCH = 20          # calls placed at once before waiting for them to join
PERF_S = 3               # perf record of FreeSWITCH at the breaking level
CONFERENCE = "cap"
CROWD_SIP_PORT, OBSERVER_SIP_PORT, PROBE_SIP_PORT = 5700, 5701, 5702
# SIPp's media ports, below FreeSWITCH's RTP range (the rendered IVR ports, 30000-37999);
# the crowd's rtp_stream sockets take ports upwards of its own, one or two a call
CROWD_MEDIA_PORT, OBSERVER_MEDIA_PORT, PROBE_MEDIA_PORT = 20000, 29000, 29100
REFERENCES = {
    "720p": "Poly RMX 2000 with two MPM+ cards: 40 HD720p (fixed resources); "
            "medooze (software MCU): about 1 per core at 720p VP8",
    "1080p": "Poly RMX 2000 with two MPM+ cards: 20 HD1080p (fixed resources)",
    "audio": "Poly RMX 2000 with two MPM+ cards: 800 audio (fixed resources)",
}


@dataclass(frozen=True)
class Ramp:
    label: str
    resolution: str              # the render (call setting max_video_resolution)
    video: str | None            # "VP8", "H264", or None: audio only
    audio: str                   # "PCMA" or "OPUS"
    levels: tuple[int, ...]      # participants, observer included
    target_per_core: int | None
    reference: str


RAMPS = (
    Ramp("720p30 VP8", "720p30", "VP8", "PCMA",
         (2, 4, 8, 12, 16, 20, 24, 28, 32), TARGET_720P_PER_CORE, "720p"),
    Ramp("720p30 H.264", "720p30", "H264", "PCMA",
         (2, 4, 8, 12, 16, 20, 24, 28, 32), TARGET_720P_PER_CORE, "720p"),
    Ramp("1080p30 H.264", "1080p30", "H264", "PCMA",
         (2, 4, 6, 8, 10, 12, 14, 16, 20), None, "1080p"),
    Ramp("audio-only G.711", "720p30", None, "PCMA",
         (10, 50, 100, 200, 300, 400, 500, 600), TARGET_AUDIO_PER_CORE, "audio"),
    Ramp("audio-only Opus", "720p30", None, "OPUS",
         (5, 10, 20, 40, 60, 80, 100, 150), None, "audio"),
)


# -- the rendered configuration --------------------------------------------------------------
def render_roots(folder: Path) -> dict[str, Path]:
    """The control plane's FreeSWITCH configuration for each resolution the ramps use,
    copied out of its root and made to run without it."""
    resolutions = sorted({ramp.resolution for ramp in RAMPS})
    roots: dict[str, Path] = {}
    with Server({"VCBOX_LOCAL_SERVICES": ""}, start_timeout=90) as server:
        assert server.data_dir is not None
        live = server.data_dir / "root"
        session = Session(server)
        try:
            for resolution in resolutions:
                session.json("PUT", "/api/v1/settings/call",
                             {"max_video_resolution": resolution, "confirm": True})
                root = folder / f"root-{resolution}"
                shutil.copytree(live / FREESWITCH_DIR, root / FREESWITCH_DIR)
                shutil.copytree(live / "etc/vcbox/tls", root / "etc/vcbox/tls")
                standalone(live, root)
                roots[resolution] = root
        finally:
            session.close()
    return roots


def standalone(live: Path, root: Path) -> None:
    """No control plane beside this FreeSWITCH: no mod_xml_curl (a call placed by
    originate asks no directory or dialplan), call records kept on disk."""
    conf = root / FREESWITCH_DIR
    for path in conf.rglob("*.xml"):  # log and CDR folders name the live root
        path.write_text(path.read_text().replace(str(live), str(root)))
    modules = conf / "autoload_configs" / "modules.conf.xml"
    text, found = re.subn(r'\s*<load module="mod_xml_curl"/>', "", modules.read_text())
    if found != 1:
        raise BenchError("modules.conf.xml: no mod_xml_curl to unload")
    modules.write_text(text)
    cdr = conf / "autoload_configs" / "json_cdr.conf.xml"
    cdr.write_text(re.sub(r'\s*<param name="url" [^>]*/>', "", cdr.read_text()))


def _params(path: Path, xpath: str = ".//param") -> dict[str, str]:
    tree = ET.parse(path)  # noqa: S314 - our own rendered file
    return {p.get("name", ""): p.get("value", "") for p in tree.getroot().findall(xpath)}


def settings_lines(roots: dict[str, Path]) -> list[str]:
    """The FreeSWITCH settings the ramps ran with, read from the rendered files."""
    lines = []
    for resolution, root in sorted(roots.items()):
        conf = root / FREESWITCH_DIR / "autoload_configs"
        prof = _params(conf / "conference.conf.xml", ".//profile[@name='default']/param")
        lines.append(
            f"{resolution}: profile default: video-mode {prof.get('video-mode')}, "
            f"conference-flags {prof.get('conference-flags')}, canvas "
            f"{prof.get('video-canvas-size')} at {prof.get('video-fps')} fps, layout "
            f"{prof.get('video-layout-name')}, video-codec-bandwidth "
            f"{prof.get('video-codec-bandwidth')}, audio rate {prof.get('rate')} interval "
            f"{prof.get('interval')} ms, timer-name {prof.get('timer-name', 'soft (default)')}")
    root = roots[sorted(roots)[0]]
    av = _params(root / FREESWITCH_DIR / "autoload_configs" / "av.conf.xml")
    sofia = _params(root / FREESWITCH_DIR / "sip_profiles" / "internal.xml")
    enc = av.get("enc-threads", "")
    if enc.startswith("cpu/"):  # cpu/<divisor>/<most>, as mod_av reads it
        _, divisor, most = (enc.split("/") + ["1", "64"])[:3]
        enc += f" = {min(int(most), max(1, nproc() // int(divisor)))} here"
    lines.append(f"mod_av (H.264) dec-threads {av.get('dec-threads')}, enc-threads "
                 f"{enc}; VP8 (core, switch_vpx) its defaults; sofia "
                 f"rtp-timer-name {sofia.get('rtp-timer-name')}; FreeSWITCH -nort -np "
                 "(no realtime clock or priority: controlplane.drivers.processes)")
    lines.append("why: mux composes one canvas per meeting; minimize-video-encoding "
                 "encodes it once per codec group (one VP8 or H.264 encode for all members "
                 "in that codec, not one per member); soft timers need no realtime clock in "
                 "a VM; -np keeps a loaded FreeSWITCH from starving the control plane")
    return lines


# -- the machine -------------------------------------------------------------------------------
def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    total = sum(fields[:8])                                    # guest is in user already
    return total - idle, total


def thread_ticks(pid: int) -> dict[int, tuple[str, int]]:
    """tid -> (name, user + system jiffies) of every thread of a process."""
    out: dict[int, tuple[str, int]] = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[int(stat.parent.name)] = (name, int(fields[11]) + int(fields[12]))
    return out


def udp_drops(ports: set[int]) -> int:
    """Datagrams the kernel dropped at the UDP sockets bound to these local ports (the
    last column of /proc/net/udp, this network namespace)."""
    total = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) in ports:
            total += int(fields[-1])
    return total


# -- what FreeSWITCH sends the observer --------------------------------------------------------
def _bpf_udp_dst(ports: tuple[int, int]) -> bytes:
    """A classic BPF program: IPv4 UDP (unfragmented) to either port, not outgoing."""
    a, v = ports
    prog = [
        (0x20, 0, 0, 0xFFFFF004),  # ld pkttype (SKF_AD_OFF + SKF_AD_PKTTYPE)
        (0x15, 10, 0, 4),          # outgoing: drop
        (0x28, 0, 0, 12),          # ldh ethertype
        (0x15, 0, 8, 0x0800),
        (0x30, 0, 0, 23),          # ldb ip proto
        (0x15, 0, 6, 17),
        (0x28, 0, 0, 20),          # ldh flags + fragment offset
        (0x45, 4, 0, 0x1FFF),
        (0xB1, 0, 0, 14),          # ldxb 4*([14]&0xf)
        (0x48, 0, 0, 16),          # ldh [x+16]: UDP destination port
        (0x15, 1, 0, a),
        (0x15, 0, 1, v),
        (0x06, 0, 0, 0x40000),     # accept
        (0x06, 0, 0, 0),           # drop
    ]
    return b"".join(struct.pack("HBBI", *ins) for ins in prog)


@dataclass
class Stream:
    packets: int = 0
    octets: int = 0        # RTP packets' sizes
    expected: int = 0      # by sequence number
    frames: int = 0        # distinct RTP timestamps (video)
    last_seq: int | None = None
    last_ts: int | None = None

    def add(self, seq: int, ts: int, size: int) -> None:
        self.packets += 1
        self.octets += size
        if self.last_seq is None:
            self.expected += 1
        else:
            step = (seq - self.last_seq) & 0xFFFF
            self.expected += step if 0 < step < 3000 else 1  # reordered or duplicated: 1
        if step_forward(self.last_seq, seq):
            self.last_seq = seq
        if ts != self.last_ts:
            self.frames += 1
            self.last_ts = ts

    @classmethod
    def of(cls, rows: list[tuple[float, int, int, int]]) -> Stream:
        """The counts of (arrival, seq, timestamp, size) rows, in order."""
        stream = cls()
        for _, seq, ts, size in rows:
            stream.add(seq, ts, size)
        return stream


def step_forward(last: int | None, seq: int) -> bool:
    return last is None or 0 < ((seq - last) & 0xFFFF) < 3000


SO_TIMESTAMPNS = 35  # Linux: the kernel's arrival time of each packet, as a timespec


class Sniffer:
    """RTP FreeSWITCH sends to the observer's audio and video ports, read by a thread of
    this process off a packet socket on lo (filtered in the kernel), each packet with the
    kernel's arrival time: a window is counted by when the packets arrived, not by when
    this thread got round to reading them (it shares the CPUs with what it measures)."""

    def __init__(self, audio_port: int, video_port: int) -> None:
        self.ports = (audio_port, video_port)
        # (arrival, seq, RTP timestamp, RTP size) by port
        self.rows: dict[int, list[tuple[float, int, int, int]]] = {
            audio_port: [], video_port: []}
        self.latest = 0.0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        prog = _bpf_udp_dst(self.ports)
        self._filter = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HL", len(prog) // 8, ctypes.addressof(self._filter))
        self.sock.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sniffer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buf = bytearray(65536)
        ancillary = socket.CMSG_SPACE(16)
        while not self.stopped.is_set():
            try:
                size, anc, _, addr = self.sock.recvmsg_into([buf], ancillary)
            except TimeoutError:
                continue
            except OSError:
                return
            if addr[2] == socket.PACKET_OUTGOING or size < 14 + 20 + 8 + 12:
                continue
            arrival = time.time()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack_from("qq", data)
                    arrival = sec + nsec / 1e9
            ihl = (buf[14] & 0x0F) * 4
            udp = 14 + ihl
            dport = (buf[udp + 2] << 8) | buf[udp + 3]
            rtp = udp + 8
            if buf[rtp] >> 6 != 2 or 200 <= buf[rtp + 1] <= 204:  # not RTP, or RTCP
                continue
            seq, ts = struct.unpack_from("!HI", buf, rtp + 2)
            with self.lock:
                if dport in self.rows:
                    self.rows[dport].append((arrival, seq, ts, size - rtp))
                self.latest = max(self.latest, arrival)

    def window(self, start: float, end: float) -> tuple[Stream, Stream]:
        """(audio, video) of the packets that arrived from start to end (time.time()),
        once this thread has read that far (a few seconds at most)."""
        deadline = time.monotonic() + 5
        while self.latest < end and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.lock:
            audio, video = ([r for r in self.rows[port] if start <= r[0] < end]
                            for port in self.ports)
        return Stream.of(audio), Stream.of(video)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


# -- one level, measured -----------------------------------------------------------------------
@dataclass
class Level:
    participants: int
    cpu: float                    # the meeting's processes, share of the machine (0..1)
    cpu_by: dict[str, float]      # by process, share of the machine
    fps: float | None             # canvas frames per second at the observer
    loss_in: float                # audio dropped at FreeSWITCH's sockets
    loss_out: float               # the observer's audio: missing by sequence number
    rate_out: float               # the observer's audio packets per 20 ms
    kbps_video: float
    threads: list[tuple[str, float]] = field(default_factory=list)  # busiest, share
    machine: float = 0.0          # every process (/proc/stat)

    @property
    def others(self) -> float:
        """What other processes of the machine used meanwhile."""
        return max(0.0, self.machine - self.cpu)

    @property
    def noisy(self) -> bool:
        return self.others > OTHERS_LIMIT

    @property
    def loss(self) -> float:
        late = max(0.0, 1.0 - self.rate_out)
        return max(self.loss_in, self.loss_out, late)

    def broken(self, video: bool) -> list[str]:
        why = []
        if self.cpu >= CPU_LIMIT:
            why.append(f"CPU {self.cpu:.0%} >= {CPU_LIMIT:.0%}")
        if video and (self.fps or 0.0) < FPS_LIMIT:
            why.append(f"canvas {self.fps or 0:.1f} fps < {FPS_LIMIT:.0f}")
        if self.loss > LOSS_LIMIT:
            why.append(f"audio loss {self.loss:.1%} > {LOSS_LIMIT:.0%}")
        return why

    def line(self) -> str:
        by = ", ".join(f"{name} {share:.0%}" for name, share in self.cpu_by.items())
        fps = f"canvas {self.fps:.1f} fps ({self.kbps_video:,.0f} kbit/s)  " \
            if self.fps is not None else ""
        noise = " NOISY" if self.noisy else ""
        return (f"{self.participants:>4} participants: CPU {self.cpu:.0%} ({by}; machine "
                f"{self.machine:.0%}, other processes {self.others:.0%}{noise})  {fps}"
                f"audio loss in {self.loss_in:.2%} out {self.loss_out:.2%}, "
                f"{self.rate_out * 50:.1f} packets/s")


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


def measure(window: float, pids: dict[str, list[int]], fs_pid: int, sniffer: Sniffer,
            audio_ports: set[int], participants: int, video: bool) -> Level:
    busy0, total0 = machine_ticks()
    cpu0 = {name: _cpu(group) for name, group in pids.items()}
    threads0 = thread_ticks(fs_pid)
    drops0 = udp_drops(audio_ports)
    started, since = time.monotonic(), time.time()
    time.sleep(window)
    elapsed, until = time.monotonic() - started, time.time()
    busy1, total1 = machine_ticks()
    cpu1 = {name: _cpu(group) for name, group in pids.items()}
    threads1 = thread_ticks(fs_pid)
    drops1 = udp_drops(audio_ports)
    heard, seen = sniffer.window(since, until)
    cores = nproc()
    hz = os.sysconf("SC_CLK_TCK")
    cpu_by = {name: (cpu1[name] - cpu0[name]) / elapsed / cores for name in pids}
    busiest = sorted(((f"{name}:{tid}",
                       (ticks - threads0.get(tid, (name, 0))[1]) / hz / elapsed)
                      for tid, (name, ticks) in threads1.items()),
                     key=lambda t: -t[1])[:6]
    sent_in = 50 * elapsed * len(audio_ports)
    span = until - since
    expected, received, frames = heard.expected, heard.packets, seen.frames
    return Level(
        participants,
        sum(cpu_by.values()),
        cpu_by,
        frames / span if video else None,
        (drops1 - drops0) / sent_in if sent_in else 0.0,
        max(0.0, 1 - received / expected) if expected else 1.0,
        (received + 1) / (50 * span),  # one packet of slack at the window's edges
        seen.octets * 8 / 1000 / span,
        busiest,
        (busy1 - busy0) / max(1, total1 - total0))


# -- the participants --------------------------------------------------------------------------
def audio_only(scenario: str) -> str:
    """An answer with its video refused (port 0)."""
    text, found = re.subn(r"m=video \[media_port\+2\]", "m=video 0", scenario)
    if found != 1:
        raise BenchError("tests/sipp.video_answer_scenario changed shape (m=video)")
    return text


def opus_answer(pcap: Path, pt: int) -> str:
    """Audio only in Opus (payload type pt, the offer's), played from a capture."""
    text = audio_only(video_answer_scenario(None, None, "VP8"))
    for old, new in (("RTP/AVP 8", f"RTP/AVP {pt}"),
                     ("a=rtpmap:8 PCMA/8000", f"a=rtpmap:{pt} opus/48000/2"),
                     ('  <recv request="ACK" crlf="true"/>\n',
                      '  <recv request="ACK" crlf="true"/>\n  <nop><action>'
                      f'<exec play_pcap_audio="{pcap}"/></action></nop>\n')):
        if text.count(old) != 1:
            raise BenchError(f"tests/sipp.video_answer_scenario changed shape: {old!r}")
        text = text.replace(old, new)
    return text


def probe_payload_types(esl: Esl, folder: Path) -> dict[str, int]:
    """The payload types FreeSWITCH's offers give VP8, H264 and opus (it numbers dynamic
    payload types itself, and SIPp sends captures as they are)."""
    probe = Terminal(folder / "probe", "probe", "x", "localhost", PROBE_SIP_PORT,
                     PROBE_MEDIA_PORT)
    argv = probe.argv("probe", video_answer_scenario(None, None, "VP8"), "-trace_msg",
                      "-message_file", str(probe.trace("probe")))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=probe.folder)
    try:
        time.sleep(0.3)
        reply = esl.api(f"originate sofia/internal/sip:probe@127.0.0.1:{PROBE_SIP_PORT} "
                        "&park()", timeout=20)
        esl.api(f"uuid_kill {reply.split()[-1]}")
        proc.wait(timeout=20)
    except (EslError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"probe call: {exc}\n{probe.error_log('probe')}") from exc
    finally:
        stop(proc)
    offer = offer_sdp(probe.trace("probe")) or ""
    found = {codec: offered_payload_type(offer, codec) for codec in ("VP8", "H264", "opus")}
    missing = [codec for codec, pt in found.items() if pt is None]
    if missing:
        raise BenchError(f"FreeSWITCH's offer has no {missing}:\n{offer}")
    return {codec: int(pt) for codec, pt in found.items() if pt is not None}


def answer_ports(trace: Path) -> tuple[int, int]:
    """(audio, video) ports of the 200 OK a terminal sent (its message trace)."""
    for way, message in trace_messages(trace):
        head, _, body = message.partition("\n\n")
        if way == "sent" and head.startswith("SIP/2.0 200") and "INVITE" in head:
            kinds = {m.kind: m.port for m in parse_sdp(body)}
            return kinds.get("audio", 0), kinds.get("video", 0)
    raise BenchError(f"no 200 OK with SDP in {trace}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@dataclass
class Outcome:
    ramp: Ramp
    passed_level: int            # participants at the last level that held (0: none)
    broke_at: int | None         # the level that broke (None: none did)
    why: list[str]
    levels: list[Level]
    profile: list[str] = field(default_factory=list)

    @property
    def figure(self) -> str:
        return f"{self.passed_level}" if self.broke_at else f">= {self.passed_level}"

    def per_core(self) -> float:
        return self.passed_level / nproc()

    def met(self) -> bool | None:
        if self.ramp.target_per_core is None:
            return None
        return self.per_core() >= self.ramp.target_per_core


def members(esl: Esl) -> dict[str, int]:
    """uuid -> member id, from `conference cap list`."""
    try:
        listing = esl.api(f"conference {CONFERENCE} list", timeout=20)
    except EslError:
        return {}
    out = {}
    for line in listing.splitlines():
        parts = line.split(";")
        if len(parts) >= 9 and parts[0].isdigit():
            out[parts[2]] = int(parts[0])
    return out


def originate(esl: Esl, port: int, n: int, background: bool = False) -> str:
    """Call participant n (the SIPp at port) into the meeting: its uuid. In the
    background the call is placed while the next ones are (wait_members for the joins)."""
    uuid = str(uuid4())
    command = (f"originate {{origination_uuid={uuid},origination_caller_id_number=p{n},"
               f"origination_caller_id_name=p{n}}}sofia/internal/sip:p{n}@127.0.0.1:"
               f"{port} &conference({CONFERENCE}@default)")
    if background:
        esl.bgapi(command, timeout=30)
        return uuid
    reply = esl.api(command, timeout=30)
    if not reply.startswith("+OK"):
        raise BenchError(f"originate answered {reply.strip()}")
    return uuid


def ramp_up(ramp: Ramp, root: Path, folder: Path, window: float) -> Outcome:
    work = folder / ramp.label.replace(" ", "-").replace(".", "")
    work.mkdir()
    per_level = window + SETTLE_S + 2.0
    play_s = min(len(ramp.levels), RAMP_BUDGET_S // per_level + 2) * per_level + 30
    play_s = float(-(-int(play_s) // 60) * 60)  # whole minutes: the captures are cached
    with freeswitch_alone(root, work / "freeswitch.log") as fs_pid:
        esl = freeswitch_esl(root, timeout=30.0)
        try:
            esl.api("fsctl sps 1000")
            pts = probe_payload_types(esl, work)
            return _ramp(ramp, esl, fs_pid, pts, work, window, play_s)
        finally:
            with contextlib.suppress(EslError):
                esl.api(f"conference {CONFERENCE} hup all")
            esl.close()


def _scenario(ramp: Ramp, pts: dict[str, int], play_s: float) -> str:
    if ramp.audio == "OPUS":
        return opus_answer(media.opus_pcap(play_s, pts["opus"]), pts["opus"])
    audio = media.audio_alaw()
    if ramp.video is None:
        return audio_only(video_answer_scenario(audio, None, "VP8"))
    video = media.hd_video_pcap(play_s, ramp.resolution, ramp.video, pts[ramp.video])
    return video_answer_scenario(audio, video, ramp.video)


def _ramp(ramp: Ramp, esl: Esl, fs_pid: int, pts: dict[str, int], work: Path,
          window: float, play_s: float) -> Outcome:
    scenario = _scenario(ramp, pts, play_s)
    timeout = int(play_s) + 120
    crowd = Terminal(work / "crowd", "crowd", "x", "localhost", CROWD_SIP_PORT,
                     CROWD_MEDIA_PORT, timeout_s=timeout)
    observer = Terminal(work / "observer", "observer", "x", "localhost", OBSERVER_SIP_PORT,
                        OBSERVER_MEDIA_PORT, timeout_s=timeout)
    extra = ["-rtp_threadtasks", "50"] if ramp.video is None else []
    procs = [subprocess.Popen(crowd.argv("crowd", scenario, *extra,
                                         calls=max(ramp.levels)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd=crowd.folder),
             subprocess.Popen(observer.argv("observer", scenario, "-trace_msg",
                                            "-message_file", str(observer.trace("observer"))),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd=observer.folder)]
    sniffer = None
    try:
        time.sleep(0.5)
        uuids = [originate(esl, OBSERVER_SIP_PORT, 0)]
        check_codecs(esl, uuids[0], ramp)
        audio_port, video_port = answer_ports(observer.trace("observer"))
        sniffer = Sniffer(audio_port, video_port)
        pids = {"FreeSWITCH": [fs_pid], "SIPp": [p.pid for p in procs],
                "bench": [os.getpid()]}
        port_of: dict[str, int] = {}  # uuid -> FreeSWITCH's local audio port
        levels: list[Level] = []
        started = time.monotonic()
        passed, broke, why = 0, None, []
        for level in ramp.levels:
            if time.monotonic() - started > RAMP_BUDGET_S:
                print(f"    ({ramp.label}: time budget of {RAMP_BUDGET_S:.0f} s spent)",
                      flush=True)
                break
            while len(uuids) < level:
                uuids.append(originate(esl, CROWD_SIP_PORT, len(uuids), background=True))
                if len(uuids) % JOIN_BATCH == 0:  # a few at a time: FreeSWITCH answers
                    wait_members(esl, uuids)
            wait_members(esl, uuids)
            for uuid in uuids:
                if uuid not in port_of:
                    reply = esl.api(f"uuid_getvar {uuid} local_media_port").strip()
                    port_of[uuid] = int(reply) if reply.isdigit() else 0
            local_ports = {port for port in port_of.values() if port}
            time.sleep(SETTLE_S)
            for attempt in range(NOISY_RETRIES + 1):
                measured = measure(window, pids, fs_pid, sniffer, local_ports, level,
                                   ramp.video is not None)
                why = measured.broken(ramp.video is not None)
                gone = [u for u in uuids if u not in members(esl)]
                if gone:
                    why.append(f"{len(gone)} participants left the meeting")
                again = bool(why) and measured.noisy and not gone and \
                    attempt < NOISY_RETRIES
                print(f"    {ramp.label}: {measured.line()}"
                      + (f"  BROKEN: {'; '.join(why)}" if why else "")
                      + ("  (while other processes were busy: measured again)"
                         if again else ""), flush=True)
                if not again:
                    break
            levels.append(measured)
            if why:
                broke = level
                break
            passed = level
        outcome = Outcome(ramp, passed, broke, why, levels)
        if outcome.met() is False and levels:  # at the load that broke, or the last
            outcome.profile = where_time_goes(fs_pid, levels[-1])
        return outcome
    finally:
        if sniffer is not None:
            sniffer.close()
        for proc in procs:
            stop(proc)


def check_codecs(esl: Esl, uuid: str, ramp: Ramp) -> None:
    """The observer's call runs in the ramp's codecs (what the other calls answer too)."""
    audio = esl.api(f"uuid_getvar {uuid} rtp_use_codec_name").strip()
    video = esl.api(f"uuid_getvar {uuid} rtp_use_video_codec_name").strip()
    want_video = ramp.video or "_undef_"
    if audio.upper() != ramp.audio or (ramp.video and video != want_video):
        raise BenchError(f"{ramp.label}: the call runs {audio} / {video}, not "
                         f"{ramp.audio} / {ramp.video or 'no video'}")


def wait_members(esl: Esl, uuids: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        joined = members(esl)
        missing = [u for u in uuids if u not in joined]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{len(missing)} of {len(uuids)} participants never joined "
                             f"{CONFERENCE}")
        time.sleep(0.2)


def where_time_goes(fs_pid: int, level: Level) -> list[str]:
    """FreeSWITCH's busiest threads at the breaking level, and perf's view of it."""
    cores = nproc()
    lines = ["FreeSWITCH's busiest threads (share of one core): " + ", ".join(
        f"{tid} {share:.0%}" for tid, share in level.threads)]
    perf = shutil.which("perf")
    if perf is None:
        return [*lines, "perf is not installed (Debian: linux-perf): no profile"]
    with tempfile.TemporaryDirectory(prefix="vcbox-perf-") as tmp:
        data = Path(tmp) / "perf.data"
        done = subprocess.run([perf, "record", "-F", "499", "-p", str(fs_pid), "-o",
                               str(data), "--", "sleep", str(PERF_S)],
                              capture_output=True, text=True, timeout=PERF_S + 60)
        if done.returncode != 0 or not data.exists():
            return [*lines, f"perf record failed: {done.stderr.strip()[-300:]}"]
        for sort, limit, top in (("dso", "2", 8), ("pid,dso", "3", 8),
                                 ("dso,sym", "1.5", 12)):
            rep = subprocess.run([perf, "report", "-i", str(data), "--stdio", "--sort",
                                  sort, "--percent-limit", limit, "-q"],
                                 capture_output=True, text=True, timeout=120)
            rows = [" ".join(r.split()) for r in rep.stdout.splitlines() if "%" in r][:top]
            lines.append(f"perf ({PERF_S} s of FreeSWITCH, by {sort}): " + "; ".join(rows))
    lines.append(f"(the machine has {cores} cores; FreeSWITCH used "
                 f"{level.cpu_by.get('FreeSWITCH', 0) * cores:.2f} of them)")
    return lines


# -- the figure --------------------------------------------------------------------------------
def run(options: Options) -> Result:
    taken = [p for p in (*FIXED_PORTS, CROWD_SIP_PORT, OBSERVER_SIP_PORT) if
             call_port_taken(p)]
    if taken:
        raise BenchError(f"FreeSWITCH's fixed ports are in use: {taken} (run the bench in "
                         "a network namespace of its own: unshare --net)")
    for tool in ("freeswitch", "sipp", "ffmpeg"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed (scripts/setup.sh)")
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)).close()
    except (PermissionError, AttributeError) as exc:
        raise BenchError(f"a packet socket is needed to read what FreeSWITCH sends: {exc} "
                         "(run as root, in a network namespace: unshare --net)") from exc
    window = min(float(options.duration), MAX_WINDOW_S)
    cores = nproc()
    folder = Path(tempfile.mkdtemp(prefix="vcbox-bench-capacity-"))
    outcomes: list[Outcome] = []
    try:
        roots = render_roots(folder)
        print("  FreeSWITCH settings (rendered by the control plane):", flush=True)
        for line in settings_lines(roots):
            print(f"    {line}", flush=True)
        print(f"  each level: {SETTLE_S:.0f} s to settle, {window:g} s measured; breaks at "
              f"CPU >= {CPU_LIMIT:.0%} of the machine (FreeSWITCH + SIPp + bench), canvas < "
              f"{FPS_LIMIT:.0f} fps, audio loss > {LOSS_LIMIT:.0%}; every participant sends "
              "and talks all the time; beyond the layout's slots they are in the meeting, "
              "heard and sending video, but not shown", flush=True)
        for ramp in RAMPS:
            outcome = ramp_up(ramp, roots[ramp.resolution], folder, window)
            outcomes.append(outcome)
            target = ""
            if outcome.ramp.target_per_core is not None:
                target = (f"  (target >= {outcome.ramp.target_per_core}/core = "
                          f"{outcome.ramp.target_per_core * cores}: "
                          f"{'PASS' if outcome.met() else 'FAIL'})")
            broke = (f"broke at {outcome.broke_at}: {'; '.join(outcome.why)}"
                     if outcome.broke_at else "nothing broke")
            print(f"  {ramp.label:<17} {outcome.figure} participants = "
                  f"{outcome.per_core():.1f} per core ({broke}){target}", flush=True)
            held = [lv for lv in outcome.levels if lv.participants == outcome.passed_level]
            if held:
                fs = held[0].cpu_by.get("FreeSWITCH", 0.0) * cores
                print(f"  {'':<17} at {outcome.passed_level}: FreeSWITCH {fs:.2f} cores = "
                      f"{fs / outcome.passed_level:.3f} per participant, the machine "
                      f"{held[0].cpu:.0%}", flush=True)
            print(f"  {'':<17} reference: {REFERENCES[ramp.reference]}", flush=True)
            noisy = [lv for lv in outcome.levels if lv.noisy]
            if noisy:
                print(f"  {'':<17} NOISY: other processes used up to "
                      f"{max(lv.others for lv in noisy):.0%} of the machine at "
                      f"{len(noisy)} of {len(outcome.levels)} levels (contention can break "
                      "frame rate and audio early: rerun on a quiet machine)", flush=True)
            for line in outcome.profile:
                print(f"  {'':<17} where the time goes: {line}", flush=True)
    finally:
        if os.environ.get("VCBOX_BENCH_KEEP"):
            print(f"  kept {folder} (VCBOX_BENCH_KEEP): FreeSWITCH's and SIPp's logs")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    missed = [o for o in outcomes if o.met() is False]
    figures = ", ".join(f"{o.ramp.label} {o.figure} ({o.per_core():.1f}/core)"
                        for o in outcomes)
    ok = not missed
    noisy = sum(1 for o in outcomes for lv in o.levels if lv.noisy)
    if noisy:
        figures += f"  [noisy: {noisy} levels shared the machine with other work]"
    line = (f"{NAME}  {TITLE} ({cores} cores): {figures}  (targets: 720p30 >= "
            f"{TARGET_720P_PER_CORE}/core, G.711 audio >= {TARGET_AUDIO_PER_CORE}/core: "
            f"{'PASS' if ok else 'FAIL'})")
    problems = [f"{o.ramp.label} {o.per_core():.1f}/core < {o.ramp.target_per_core}"
                for o in missed]
    return Result(NAME, line, ok, True, problems)
