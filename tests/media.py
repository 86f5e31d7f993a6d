"""RTP captures for SIPp's `play_pcap_audio` / `play_pcap_video` (tests/sipp.py).

ffmpeg encodes a test picture (VP8 or H.264; HD_RECIPES: what a room system sends at
720p30 and 1080p30) or a tone (G.711 A-law, or Opus) and sends it with
its RTP muxer (`-f rtp`) to a UDP socket of this process; the packets, timed by their
RTP timestamps, go into a libpcap file with the Ethernet, IPv4 and UDP headers built
here, which is all SIPp needs to replay them (it rewrites the ports, never the RTP).

A clip is a few seconds long; a play of any length repeats it inside one capture with
the sequence numbers and timestamps running on, so that the far end sees one unbroken
stream (SIPp itself would restart the same numbers on every replay). Each repetition
begins with a key frame.

Files are made on demand and cached under `<repo>/.cache/media/`, named by a hash of
their recipe (ffmpeg's arguments, the duration and this file's own source): changing
any of them makes a new file.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.components import locate

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "media"

VP8_PT = 96
H264_PT = 97
PCMA_PT = 8
VIDEO_CLOCK = 90000
# Where the packets of a capture seem to go: SIPp takes the lowest destination port of
# a capture as its base and keeps only the offset, so one port is all that matters.
SRC = ("10.11.12.13", 40000)
DST = ("10.11.12.14", 6000)


@dataclass(frozen=True)
class Clip:
    """How to make one clip: the codec and ffmpeg's arguments for it."""

    kind: str            # "video" or "audio"
    codec: str           # "VP8", "H264", "PCMA"
    payload_type: int
    clock: int
    seconds: int
    args: tuple[str, ...]

    def key(self, play_s: float) -> str:
        recipe = "\0".join([self.kind, self.codec, str(self.payload_type), str(self.clock),
                            str(self.seconds), *self.args, f"{play_s:.3f}"])
        digest = hashlib.sha256(recipe.encode() + Path(__file__).read_bytes())
        return digest.hexdigest()[:16]


def video_clip(codec: str = "VP8", size: str = "352x288", fps: int = 10,
               seconds: int = 4, kbps: int = 128, payload_type: int | None = None,
               color: str | None = None) -> Clip:
    """ffmpeg's test picture (moving, with a frame counter), or a plain colour
    ("0x20c040": a picture that tells one terminal from another on the mixed canvas),
    a key frame every second; payload_type: the RTP payload type (default VP8_PT or
    H264_PT)."""
    picture = f"color=c={color}:size={size}:rate={fps}" if color else \
        f"testsrc=size={size}:rate={fps}"
    source = ("-f", "lavfi", "-i", picture, "-t", str(seconds))
    if codec == "VP8":
        encode: tuple[str, ...] = (
            "-c:v", "libvpx", "-b:v", f"{kbps}k", "-deadline", "realtime", "-cpu-used", "8",
            "-g", str(fps), "-keyint_min", str(fps), "-auto-alt-ref", "0",
            "-lag-in-frames", "0", "-error-resilient", "1")
        pt = payload_type or VP8_PT
    elif codec == "H264":
        # level 3.1 holds 720p30; 1080p30 needs 4.0
        width, height = (int(n) for n in size.split("x"))
        level = "4.0" if width * height > 1280 * 720 else "3.1"
        encode = ("-c:v", "libx264", "-profile:v", "baseline", "-level", level,
                  "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-tune", "zerolatency",
                  "-b:v", f"{kbps}k", "-g", str(fps), "-keyint_min", str(fps),
                  "-x264-params", "repeat-headers=1:sliced-threads=0")
        pt = payload_type or H264_PT
    else:
        raise ValueError(f"no video clip for codec {codec!r}")
    return Clip("video", codec, pt, VIDEO_CLOCK, seconds,
                (*source, *encode, "-an", "-payload_type", str(pt)))


# What a room system sends (issue 16's capacity bench): size, frame rate and bit rate
# (kbit/s; 2048 is vcbox's default downlink cap, what FreeSWITCH asks terminals for).
HD_RECIPES: dict[str, tuple[str, int, int]] = {
    "720p30": ("1280x720", 30, 1500),
    "1080p30": ("1920x1080", 30, 2000),
}


def hd_video_pcap(play_s: float, recipe: str = "720p30", codec: str = "VP8",
                  payload_type: int | None = None) -> Path:
    """A capture of the moving test picture at one of HD_RECIPES, lasting play_s."""
    size, fps, kbps = HD_RECIPES[recipe]
    return capture(video_clip(codec, size, fps, kbps=kbps, payload_type=payload_type),
                   play_s)


OPUS_PT = 111


def opus_clip(seconds: int = 4, payload_type: int = OPUS_PT, kbps: int = 32) -> Clip:
    """A 440 Hz tone as Opus (48 kHz clock, mono, 20 ms a packet, VoIP mode)."""
    return Clip("audio", "OPUS", payload_type, 48000, seconds,
                ("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                 "-t", str(seconds), "-c:a", "libopus", "-b:a", f"{kbps}k",
                 "-application", "voip", "-frame_duration", "20", "-ac", "1", "-vn",
                 "-payload_type", str(payload_type)))


def opus_pcap(play_s: float, payload_type: int = OPUS_PT) -> Path:
    """A capture of opus_clip() lasting play_s seconds (for play_pcap_audio)."""
    return capture(opus_clip(payload_type=payload_type), play_s)


def audio_clip(seconds: int = 4) -> Clip:
    """A 440 Hz tone as G.711 A-law, 20 ms (160 bytes) a packet."""
    return Clip("audio", "PCMA", PCMA_PT, 8000, seconds,
                ("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:samples_per_frame=160",
                 "-t", str(seconds), "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1", "-vn",
                 "-payload_type", str(PCMA_PT)))


def rtp_packets(clip: Clip) -> list[bytes]:
    """The clip's RTP packets, as ffmpeg sent them (its RTCP reports left out): as fast
    as it encodes, or, should loopback lose some that way, paced in real time (-re)."""
    try:
        return _rtp_packets(clip, paced=False)
    except PacketsLost:
        return _rtp_packets(clip, paced=True)


class PacketsLost(RuntimeError):
    pass


def _rtp_packets(clip: Clip, paced: bool) -> list[bytes]:
    packets: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        port = sock.getsockname()[1]
        # pkt_size: 172 bytes carry 160 bytes of A-law (20 ms); video packets stay
        # under a usual MTU.
        size = "172" if clip.kind == "audio" else "1200"
        argv = [locate("ffmpeg"), "-hide_banner", "-loglevel", "error", "-nostdin",
                *(["-re"] if paced else []), *clip.args, "-f", "rtp", "-pkt_size", size, f"udp://127.0.0.1:{port}"]
        with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) as proc:
            errors: list[str] = []
            reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()),
                                      daemon=True)
            reader.start()
            deadline = time.monotonic() + clip.seconds + 60
            while True:
                try:
                    data, _ = sock.recvfrom(65536)
                except TimeoutError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        break
                    continue
                if len(data) >= 12 and not 200 <= data[1] <= 204:  # RTCP SR/SDES/BYE
                    packets.append(data)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            reader.join(5)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {' '.join(argv)}\n"
                               f"{''.join(errors)[-2000:]}")
    if not packets:
        raise RuntimeError(f"ffmpeg sent no RTP: {' '.join(argv)}")
    seqs = [struct.unpack("!H", p[2:4])[0] for p in packets]
    gaps = [(a, b) for a, b in zip(seqs, seqs[1:], strict=False) if (a + 1) & 0xFFFF != b]
    if gaps:
        raise PacketsLost(f"RTP packets lost or reordered on loopback: {gaps[:5]}")
    return packets


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(payload: bytes, src: tuple[str, int] = SRC, dst: tuple[str, int] = DST) -> bytes:
    """One Ethernet frame carrying payload in IPv4/UDP."""
    udp_len = 8 + len(payload)
    src_ip, dst_ip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64,
                     socket.IPPROTO_UDP, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ether = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ether + ip + udp


def write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> None:
    """A libpcap file (microsecond timestamps, link type Ethernet) of (time, payload)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for when, payload in packets:
        data = frame(payload)
        sec = int(when)
        usec = round((when - sec) * 1_000_000)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        out.append(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)
    path.write_bytes(b"".join(out))


def looped(packets: list[bytes], clock: int, period_s: int, play_s: float
           ) -> list[tuple[float, bytes]]:
    """The clip repeated for play_s seconds as one stream: each repetition's sequence
    numbers and timestamps continue the last one's; times from the RTP timestamps."""
    first_seq = struct.unpack("!H", packets[0][2:4])[0]
    first_ts = struct.unpack("!I", packets[0][4:8])[0]
    period = period_s * clock
    out: list[tuple[float, bytes]] = []
    rounds = max(1, -(-round(play_s * 1000) // (period_s * 1000)))
    for k in range(rounds):
        for n, packet in enumerate(packets):
            ts = struct.unpack("!I", packet[4:8])[0]
            offset = (ts - first_ts) & 0xFFFFFFFF
            when = (k * period + offset) / clock
            if when >= play_s and out:
                return out
            seq = (first_seq + k * len(packets) + n) & 0xFFFF
            new_ts = (first_ts + k * period + offset) & 0xFFFFFFFF
            out.append((when, packet[:2] + struct.pack("!HI", seq, new_ts) + packet[8:]))
    return out


def capture(clip: Clip, play_s: float | None = None) -> Path:
    """The pcap of clip, repeated to play_s seconds (default: the clip once)."""
    play = float(play_s if play_s is not None else clip.seconds)
    name = f"{clip.kind}-{clip.codec.lower()}-{play:g}s-{clip.key(play)}.pcap"
    path = CACHE / name
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    base = CACHE / f"{clip.kind}-{clip.codec.lower()}-clip-{clip.key(0)}.rtp"
    if base.exists():
        raw = base.read_bytes()
        packets, at = [], 0
        while at < len(raw):
            (size,) = struct.unpack("!H", raw[at:at + 2])
            packets.append(raw[at + 2:at + 2 + size])
            at += 2 + size
    else:
        packets = rtp_packets(clip)
        _atomic(base, b"".join(struct.pack("!H", len(p)) + p for p in packets))
    fd, tmp = tempfile.mkstemp(dir=CACHE, suffix=".tmp")
    os.close(fd)
    try:
        write_pcap(Path(tmp), looped(packets, clip.clock, clip.seconds, play))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def video_pcap(play_s: float | None = None, codec: str = "VP8", size: str = "352x288",
               fps: int = 10, kbps: int = 128, payload_type: int | None = None,
               color: str | None = None) -> Path:
    """A capture of video_clip(...) lasting play_s seconds."""
    return capture(video_clip(codec, size, fps, kbps=kbps, payload_type=payload_type,
                              color=color), play_s)


def audio_pcap(play_s: float | None = None, seconds: int = 4) -> Path:
    """A capture of audio_clip() lasting play_s seconds."""
    return capture(audio_clip(seconds), play_s)


def audio_alaw(seconds: int = 4, bursts: bool = False) -> Path:
    """The tone of audio_clip as raw G.711 A-law bytes (8000 a second), for SIPp's
    `rtp_stream` (which packetizes 160 bytes per 20 ms itself and loops); bursts: one
    second of tone, one of silence, and so on (a speaker the mixer hears start talking
    again every two seconds)."""
    tone = ("aevalsrc=if(lt(mod(t\\,2)\\,1)\\,0.25*sin(2*PI*440*t)\\,0):s=8000"
            if bursts else "sine=frequency=440:sample_rate=8000")
    argv = [locate("ffmpeg"), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", tone, "-t", str(seconds),
            "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1", "-f", "alaw"]
    key = hashlib.sha256("\0".join(argv[1:]).encode() + Path(__file__).read_bytes())
    kind = "bursts" if bursts else "tone"
    path = CACHE / f"audio-pcma-{kind}-{seconds}s-{key.hexdigest()[:16]}.alaw"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=CACHE, suffix=".tmp")
    os.close(fd)
    try:
        done = subprocess.run([*argv, tmp], capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or not os.path.getsize(tmp):
            raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr[-2000:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_pcap(path: Path) -> list[tuple[float, bytes]]:
    """(time, UDP payload) of each packet of a capture written by write_pcap."""
    raw = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", raw[:24])
    assert magic == 0xA1B2C3D4 and link == 1, (hex(magic), link)
    out, at = [], 24
    while at < len(raw):
        sec, usec, incl, _ = struct.unpack("<IIII", raw[at:at + 16])
        data = raw[at + 16:at + 16 + incl]
        out.append((sec + usec / 1e6, data[14 + 20 + 8:]))
        at += 16 + incl
    return out
