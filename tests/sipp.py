"""SIPp as the SIP terminals of the tests (DESIGN §4): scenarios written here, SIPp run
against a FreeSWITCH, its exit status and its error log as the result.

Scenario fields come from an injection file, one line per terminal:
[field0] account, [field1] domain, [field2] its digest credentials.
Every INVITE and REGISTER is challenged (the internal profile authenticates every
address), so each scenario answers the challenge with [field2].

Video terminals (issue 11): Terminal.video_call (a UAC offering PCMA + VP8/H264, sending
audio and video, its answer's SDP read back with answer_sdp) and Terminal.video_answer
(a UAS for originates and bridged calls, one SIPp for many calls); the media come from
tests/media.py.
"""

from __future__ import annotations

import itertools
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.components import locate

USER_AGENT = "Yealink VC400 63.345.0.10"
PCAP = Path("/usr/share/sip-tester/g711a.pcap")  # 8 s of G.711 A-law, shipped with SIPp
_HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'


def _send(lines: list[str], retrans: bool = True, attrs: str = "") -> str:
    body = "\n".join(f"      {line}" for line in lines)
    attr = (' retrans="500"' if retrans else "") + attrs
    return f"  <send{attr}>\n    <![CDATA[\n{body}\n\n    ]]>\n  </send>\n"


def _request(method: str, uri: str, cseq: int, extra: list[str], sdp: bool = False,
             to: str = "", body: list[str] | None = None) -> list[str]:
    lines = [f"{method} {uri} SIP/2.0",
             "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
             "From: <sip:[field0]@[field1]>;tag=[call_number]",
             f"To: <{to or uri}>",
             "Call-ID: [call_id]", f"CSeq: {cseq} {method}",
             "Contact: <sip:[field0]@[local_ip]:[local_port]>", *extra,
             "Max-Forwards: 70", f"User-Agent: {USER_AGENT}"]
    if sdp:
        return [*lines, "Content-Type: application/sdp", "Content-Length: [len]", "",
                *(body or SDP)]
    return [*lines, "Content-Length: 0"]


SDP = ["v=0", "o=- 53655765 2353687637 IN IP[local_ip_type] [local_ip]", "s=-",
       "c=IN IP[media_ip_type] [media_ip]", "t=0 0", "m=audio [media_port] RTP/AVP 8",
       "a=rtpmap:8 PCMA/8000"]


def register_scenario(expect: int, user_agent: str = USER_AGENT, expires: int = 120,
                      timed: bool = False) -> str:
    """REGISTER, the 401 challenge, REGISTER with digest credentials, then `expect`.
    timed: SIPp measures first REGISTER to that answer (response time "reg")."""
    uri = "sip:[field1]"
    aor = "sip:[field0]@[field1]"
    first = _request("REGISTER", uri, 1, [f"Expires: {expires}"], to=aor)
    second = _request("REGISTER", uri, 2, ["[field2]", f"Expires: {expires}"], to=aor)
    first = [line.replace(USER_AGENT, user_agent) for line in first]
    second = [line.replace(USER_AGENT, user_agent) for line in second]
    rtd = ' rtd="reg"' if timed else ""
    return (_HEAD + '<scenario name="register">\n'
            + _send(first, attrs=' start_rtd="reg"' if timed else "")
            + '  <recv response="401" auth="true"/>\n' + _send(second)
            + f'  <recv response="{expect}"{rtd}/>\n</scenario>\n')


def sync_scenario(user_agent: str, wait_ms: int) -> str:
    """A registered terminal told to re-read its provisioning: REGISTER (as
    register_scenario), then up to wait_ms for a NOTIFY of Event check-sync in the
    registration's dialog (FreeSWITCH sends it with the REGISTER's Call-ID), answered 200;
    no NOTIFY in that time ends the run as well (the message trace tells which)."""
    registered = register_scenario(200, user_agent).rsplit("</scenario>", 1)[0]
    return (registered
            + f'  <recv request="NOTIFY" timeout="{wait_ms}" ontimeout="end">\n'
            + '    <action>\n      <ereg regexp="check-sync" search_in="hdr" header="Event:"'
            + ' check_it="true" assign_to="event"/>\n    </action>\n  </recv>\n'
            + _send(["SIP/2.0 200 OK", "[last_Via:]", "[last_From:]", "[last_To:]",
                     "[last_Call-ID:]", "[last_CSeq:]", "Content-Length: 0"], retrans=False)
            + '  <label id="end"/>\n  <pause milliseconds="10"/>\n'
            + '  <Reference variables="event"/>\n</scenario>\n')


def _ack(uri: str, cseq: int) -> str:
    return _send(["ACK " + uri + " SIP/2.0", "[last_Via:]", "[last_From:]", "[last_To:]",
                  "Call-ID: [call_id]", f"CSeq: {cseq} ACK", "Max-Forwards: 70",
                  "Content-Length: 0"], retrans=False)


def call_scenario(callee: str, expect: int, talk_ms: int = 3000, media: bool = True) -> str:
    """INVITE callee, answer the 407 challenge; then `expect`: 200 talks (RTP from the
    pcap unless not media), hangs up with BYE; any other code is acknowledged."""
    uri = f"sip:{callee}@[field1]"
    parts = [_send(_request("INVITE", uri, 1, [], sdp=True)),
             '  <recv response="100" optional="true"/>\n',
             '  <recv response="407" auth="true"/>\n', _ack(uri, 1),
             _send(_request("INVITE", uri, 2, ["[field2]"], sdp=True)),
             '  <recv response="100" optional="true"/>\n',
             '  <recv response="180" optional="true"/>\n',
             '  <recv response="183" optional="true"/>\n']
    if expect != 200:
        parts += [f'  <recv response="{expect}"/>\n', _ack(uri, 2)]
    else:
        parts += ['  <recv response="200" rrs="true"/>\n',
                  _send(["ACK [next_url] SIP/2.0",
                         "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                         "[last_From:]", "[last_To:]", "Call-ID: [call_id]", "CSeq: 2 ACK",
                         "Max-Forwards: 70", "Content-Length: 0"], retrans=False),
                  *([f'  <nop><action><exec play_pcap_audio="{PCAP}"/></action></nop>\n']
                    if media else []),
                  f'  <pause milliseconds="{talk_ms}"/>\n',
                  _send(["BYE [next_url] SIP/2.0",
                         "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                         "[last_From:]", "[last_To:]", "Call-ID: [call_id]", "CSeq: 3 BYE",
                         "Max-Forwards: 70", "Content-Length: 0"]),
                  '  <recv response="200"/>\n']
    return _HEAD + '<scenario name="call">\n' + "".join(parts) + "</scenario>\n"


def answer_scenario() -> str:
    """A registered device taking one call: 180, 200 with SDP, talks until the BYE."""
    reply = ["[last_Via:]", "[last_From:]", "[last_To:];tag=[pid]SIPpTag[call_number]",
             "[last_Call-ID:]", "[last_CSeq:]",
             "Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>"]
    return (_HEAD + '<scenario name="answer">\n'
            + '  <recv request="INVITE" crlf="true"/>\n'
            + _send(["SIP/2.0 180 Ringing", *reply, "Content-Length: 0"], retrans=False)
            + _send(["SIP/2.0 200 OK", *reply, "Content-Type: application/sdp",
                     "Content-Length: [len]", "", *SDP])
            + '  <recv request="ACK" crlf="true"/>\n'
            + '  <recv request="BYE"/>\n'
            + _send(["SIP/2.0 200 OK", "[last_Via:]", "[last_From:]", "[last_To:]",
                     "[last_Call-ID:]", "[last_CSeq:]", "Content-Length: 0"], retrans=False)
            + "</scenario>\n")


def ring_scenario() -> str:
    """A registered device that rings (180) and is cancelled: another device of the same
    account took the call (200 to the CANCEL, 487 to the INVITE, its ACK)."""
    tag = "[last_To:];tag=[pid]SIPpRing[call_number]"
    return (_HEAD + '<scenario name="ring">\n'
            + '  <recv request="INVITE" crlf="true">\n    <action>\n'
            + '      <ereg regexp="([0-9]+)" search_in="hdr" header="CSeq:" '
            + 'assign_to="cseq"/>\n    </action>\n  </recv>\n'
            + _send(["SIP/2.0 180 Ringing", "[last_Via:]", "[last_From:]", tag,
                     "[last_Call-ID:]", "[last_CSeq:]", "Content-Length: 0"], retrans=False)
            + '  <recv request="CANCEL"/>\n'
            + _send(["SIP/2.0 200 OK", "[last_Via:]", "[last_From:]", tag, "[last_Call-ID:]",
                     "[last_CSeq:]", "Content-Length: 0"], retrans=False)
            + _send(["SIP/2.0 487 Request Terminated", "[last_Via:]", "[last_From:]", tag,
                     "[last_Call-ID:]", "CSeq: [$cseq] INVITE", "Content-Length: 0"])
            + '  <recv request="ACK"/>\n'
            + '  <Reference variables="cseq"/>\n'
            + "</scenario>\n")


# -- video terminals ------------------------------------------------------------------------
# SIPp 3.6 plays one pcap at a time per call (a play_pcap_* cancels the one before), so
# a video terminal sends its video with play_pcap_video (from [media_port+2]) and its
# audio with rtp_stream (raw A-law bytes that SIPp packetizes and loops itself, from its
# own port [rtpstream_audio_port]).
VIDEO_CODECS: dict[str, tuple[int, list[str]]] = {
    "VP8": (96, ["a=rtpmap:96 VP8/90000"]),
    "H264": (97, ["a=rtpmap:97 H264/90000",
                  "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1"]),
}


def _audio_sdp(streamed: bool) -> list[str]:
    port = "[rtpstream_audio_port]" if streamed else "[media_port]"
    return [line.replace("[media_port]", port) for line in SDP]


def av_sdp(codecs: tuple[str, ...] = ("VP8", "H264"), streamed: bool = True) -> list[str]:
    """An offer of PCMA and video in these codecs (the first one preferred); streamed:
    the audio comes from rtp_stream (its port), else from [media_port]."""
    pts = " ".join(str(VIDEO_CODECS[c][0]) for c in codecs)
    return [*_audio_sdp(streamed), f"m=video [media_port+2] RTP/AVP {pts}",
            *[line for c in codecs for line in VIDEO_CODECS[c][1]], "a=sendrecv"]


def _plays(audio: Path | None, video: Path | None) -> str:
    """audio: raw A-law for rtp_stream, looped until the call ends; video: a pcap."""
    actions = ([f'<exec rtp_stream="{audio},-1,8"/>'] if audio else []) + \
        ([f'<exec play_pcap_video="{video}"/>'] if video else [])
    if not actions:
        return ""
    return "  <nop><action>" + "".join(actions) + "</action></nop>\n"


def video_call_scenario(callee: str, audio: Path | None, video: Path | None,
                        talk_ms: int, codecs: tuple[str, ...] = ("VP8", "H264")) -> str:
    """A video terminal calling callee: the INVITE offers PCMA + video (codecs), answers
    the 407 challenge; on the 200 it sends audio (raw A-law, tests/media.py audio_alaw)
    and video (a capture, tests/media.py video_pcap, as long as the call) for talk_ms,
    then hangs up with BYE. Run it with a message trace (Terminal.video_call does) to
    read the answer's SDP (answer_sdp)."""
    uri = f"sip:{callee}@[field1]"
    sdp = av_sdp(codecs)
    parts = [_send(_request("INVITE", uri, 1, [], sdp=True, body=sdp)),
             '  <recv response="100" optional="true"/>\n',
             '  <recv response="407" auth="true"/>\n', _ack(uri, 1),
             _send(_request("INVITE", uri, 2, ["[field2]"], sdp=True, body=sdp)),
             '  <recv response="100" optional="true"/>\n',
             '  <recv response="180" optional="true"/>\n',
             '  <recv response="183" optional="true"/>\n',
             '  <recv response="200" rrs="true"/>\n',
             _send(["ACK [next_url] SIP/2.0",
                    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                    "[last_From:]", "[last_To:]", "Call-ID: [call_id]", "CSeq: 2 ACK",
                    "Max-Forwards: 70", "Content-Length: 0"], retrans=False),
             _plays(audio, video),
             f'  <pause milliseconds="{talk_ms}"/>\n',
             _send(["BYE [next_url] SIP/2.0",
                    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                    "[last_From:]", "[last_To:]", "Call-ID: [call_id]", "CSeq: 3 BYE",
                    "Max-Forwards: 70", "Content-Length: 0"]),
             '  <recv response="200"/>\n']
    return _HEAD + '<scenario name="video-call">\n' + "".join(parts) + "</scenario>\n"


def video_answer_scenario(audio: Path | None, video: Path | None, codec: str = "VP8"
                          ) -> str:
    """A video terminal taking calls (FreeSWITCH's originate or a bridged call): 180,
    then 200 with PCMA + video in codec, with the payload type the offer gave that codec
    (a capture's own payload type must be that one: see Terminal.video_answer); from
    the ACK it sends audio (raw A-law, looped) and video (a capture) and talks until the
    BYE. Without audio the answer's audio port is [media_port] (what -rtp_echo uses)."""
    reply = ["[last_Via:]", "[last_From:]", "[last_To:];tag=[pid]SIPpTag[call_number]",
             "[last_Call-ID:]", "[last_CSeq:]",
             "Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>"]
    rtpmap = VIDEO_CODECS[codec][1][0].split(" ", 1)[1]
    answer = [*_audio_sdp(audio is not None), "m=video [media_port+2] RTP/AVP [$pt]",
              f"a=rtpmap:[$pt] {rtpmap}",
              *[line.replace(f":{VIDEO_CODECS[codec][0]} ", ":[$pt] ")
                for line in VIDEO_CODECS[codec][1][1:]], "a=sendrecv"]
    return (_HEAD + '<scenario name="video-answer">\n'
            + '  <recv request="INVITE" crlf="true">\n    <action>\n'
            + f'      <ereg regexp="a=rtpmap:([0-9]+) {rtpmap}" search_in="body" '
            + 'check_it="true" assign_to="offer,pt"/>\n    </action>\n  </recv>\n'
            + _send(["SIP/2.0 180 Ringing", *reply, "Content-Length: 0"], retrans=False)
            + _send(["SIP/2.0 200 OK", *reply, "Content-Type: application/sdp",
                     "Content-Length: [len]", "", *answer])
            + '  <recv request="ACK" crlf="true"/>\n'
            + _plays(audio, video)
            + '  <recv request="BYE"/>\n'
            + _send(["SIP/2.0 200 OK", "[last_Via:]", "[last_From:]", "[last_To:]",
                     "[last_Call-ID:]", "[last_CSeq:]", "Content-Length: 0"], retrans=False)
            + '  <Reference variables="offer"/>\n'
            + "</scenario>\n")


@dataclass(frozen=True)
class Media:
    """One m= line of an SDP: its type, port, payload types, and attributes."""

    kind: str
    port: int
    formats: tuple[str, ...]
    attributes: tuple[str, ...]

    def codecs(self) -> list[str]:
        """Encoding names by rtpmap, in the order of the m= line (static ones by number)."""
        names = {a.split()[0].split(":")[1]: a.split()[1].split("/")[0]
                 for a in self.attributes if a.startswith("rtpmap:")}
        static = {"0": "PCMU", "8": "PCMA", "9": "G722"}
        return [names.get(f, static.get(f, f)) for f in self.formats]


def parse_sdp(body: str) -> list[Media]:
    media: list[Media] = []
    kind, port, formats, attrs = "", 0, (), []
    for line in body.replace("\r", "").split("\n"):
        if line.startswith("m="):
            if kind:
                media.append(Media(kind, port, formats, tuple(attrs)))
            words = line[2:].split()
            kind, port, formats, attrs = words[0], int(words[1]), tuple(words[3:]), []
        elif line.startswith("a=") and kind:
            attrs.append(line[2:])
    if kind:
        media.append(Media(kind, port, formats, tuple(attrs)))
    return media


def trace_messages(path: Path) -> list[tuple[str, str]]:
    """SIPp's message trace (-trace_msg): ("received" | "sent", message) in order."""
    text = path.read_text(errors="replace") if path.exists() else ""
    out: list[tuple[str, str]] = []
    for block in text.split("\n----------------------------------------------- ")[0:]:
        head, _, message = block.partition("\n\n")
        if " message received " in head:
            out.append(("received", message.strip("\n") + "\n"))
        elif " message sent " in head:
            out.append(("sent", message.strip("\n") + "\n"))
    return out


def answer_sdp(path: Path) -> str | None:
    """The SDP of the last 200 OK to an INVITE in a message trace (None: no such
    answer, or one without a body)."""
    found = None
    for way, message in trace_messages(path):
        head, _, body = message.partition("\n\n")
        lines = head.split("\n")
        if way == "received" and lines[0].startswith("SIP/2.0 200") and any(
                line.lower().startswith("cseq:") and line.rstrip().endswith("INVITE")
                for line in lines):
            found = body.strip() or None
    return found


def offered_payload_type(sdp: str, codec: str) -> int | None:
    """The payload type an SDP gives an encoding name (first m= line that has it)."""
    for media in parse_sdp(sdp):
        for fmt, name in zip(media.formats, media.codecs(), strict=False):
            if name.upper() == codec.upper():
                return int(fmt)
    return None


def offer_sdp(path: Path) -> str | None:
    """The SDP of the first INVITE received in a message trace."""
    for way, message in trace_messages(path):
        head, _, body = message.partition("\n\n")
        if way == "received" and head.startswith("INVITE "):
            return body.strip() or None
    return None


# Local SIP ports handed to terminals that name none. SIPp given no port takes the first
# free one from 5060 up, so a device's REGISTER and its later answering run could sit on
# different ports (and the INVITE go to the wrong one) whenever another SIPp run came or
# went between them: each Terminal keeps one port for all its runs instead.
_AUTO_PORTS = itertools.cycle(range(5800, 6000))


def free_sip_port() -> int:
    """The next port of the terminals' range that nothing binds now (UDP and TCP)."""
    for _ in range(300):
        port = next(_AUTO_PORTS)
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free SIP port for a test terminal in 5800-5999")


@dataclass
class Terminal:
    """One SIP device of an account: its SIPp runs share its local SIP and media ports
    (a SIP port is chosen once when none is given)."""

    folder: Path
    account: str
    password: str
    domain: str
    sip_port: int = 0
    media_port: int = 0
    server: str = "127.0.0.1:5060"
    # The address the terminal gives in Via, Contact and SDP, when not the one it binds
    # (behind qemu's user network the appliance reaches the host at 10.0.2.2).
    advertise: str = ""
    timeout_s: int = 20   # SIPp's own limit for one run

    def __post_init__(self) -> None:
        if not self.sip_port:
            self.sip_port = free_sip_port()

    def _files(self, name: str, scenario: str) -> tuple[Path, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.xml"
        if self.advertise:
            scenario = (scenario.replace("[local_ip]", self.advertise)
                        .replace("[media_ip]", self.advertise))
        path.write_text(scenario)
        users = self.folder / f"{self.account}.csv"
        users.write_text(f"SEQUENTIAL\n{self.account};{self.domain};[authentication "
                         f"username={self.account} password={self.password}]\n")
        return path, users

    def argv(self, name: str, scenario: str, *extra: str, calls: int = 1) -> list[str]:
        path, users = self._files(name, scenario)
        return [locate("sipp"), self.server, "-sf", str(path), "-inf", str(users),
                "-m", str(calls), "-i", "127.0.0.1", "-p", str(self.sip_port),
                "-mp", str(self.media_port or 0), "-timeout", str(self.timeout_s),
                "-timeout_error",
                "-nostdin", "-trace_err", "-error_file", str(self.folder / f"{name}.err"),
                *extra]

    def run(self, name: str, scenario: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(name, scenario, *extra), capture_output=True,
                              text=True, timeout=self.timeout_s + 20, cwd=self.folder)

    def register(self, expect: int = 200, user_agent: str = USER_AGENT
                 ) -> subprocess.CompletedProcess:
        return self.run(f"register-{expect}", register_scenario(expect, user_agent))

    def wait_for_sync(self, user_agent: str, wait_ms: int) -> subprocess.Popen:
        """Register, then take a check-sync NOTIFY within wait_ms (sync_scenario); its
        messages are traced (notified())."""
        return subprocess.Popen(
            self.argv("sync", sync_scenario(user_agent, wait_ms), *self._traced("sync")),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.folder)

    def notified(self) -> bool:
        """Whether the wait_for_sync run received a NOTIFY."""
        trace = self.trace("sync")
        return trace.exists() and "NOTIFY sip:" in trace.read_text(errors="replace")

    def answer(self, echo: bool = True) -> subprocess.Popen:
        """Start taking one call (echoing its RTP to where it came from); wait() for the
        outcome."""
        extra = ["-rtp_echo"] if echo else []
        return subprocess.Popen(self.argv("answer", answer_scenario(), *extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=self.folder)

    def ring(self) -> subprocess.Popen:
        """Start ringing for one call that another device takes; wait() for the outcome."""
        return subprocess.Popen(self.argv("ring", ring_scenario()), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=self.folder)

    def call(self, callee: str, expect: int, talk_ms: int = 3000, media: bool = True
             ) -> subprocess.CompletedProcess:
        return self.run(f"call-{callee}-{expect}",
                        call_scenario(callee, expect, talk_ms, media))

    def trace(self, name: str) -> Path:
        """The message trace of run `name` (for answer_sdp / offer_sdp)."""
        return self.folder / f"{name}.msg"

    def _traced(self, name: str) -> list[str]:
        self.trace(name).unlink(missing_ok=True)
        return ["-trace_msg", "-message_file", str(self.trace(name))]

    def video_call(self, callee: str, talk_ms: int = 3000,
                   codecs: tuple[str, ...] = ("VP8", "H264"), media: bool = True,
                   wait: bool = True, color: str | None = None, fps: int = 10
                   ) -> subprocess.CompletedProcess | subprocess.Popen:
        """Call callee as a video terminal (video_call_scenario): the captures of the
        first codec, as long as the call (color: a plain picture of that colour);
        answer_sdp(self.trace(name)) tells what the answer said, name =
        f"video-call-{callee}". wait=False: the Popen."""
        from tests import media as captures

        play_s = talk_ms / 1000 + 1
        audio = captures.audio_alaw() if media else None
        video = captures.video_pcap(play_s, codecs[0], color=color, fps=fps) \
            if media else None
        name = f"video-call-{callee}"
        scenario = video_call_scenario(callee, audio, video, talk_ms, codecs)
        timeout = max(self.timeout_s, talk_ms // 1000 + 20)
        argv = self.argv(name, scenario, *self._traced(name))
        argv[argv.index("-timeout") + 1] = str(timeout)
        if not wait:
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, cwd=self.folder)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 20,
                              cwd=self.folder)

    def video_answer(self, talk_s: float = 30, codec: str = "VP8", calls: int = 1,
                     payload_type: int | None = None, audio: bool = True,
                     video: bool = True, color: str | None = None, fps: int = 10,
                     echo: bool = False, bursts: bool = False) -> subprocess.Popen:
        """Take `calls` calls (one SIPp, each call its own dialog; all answers give this
        terminal's media ports) as a video terminal (video_answer_scenario), sending
        audio and video for up to talk_s seconds of each; wait() for the outcome.
        payload_type: the one the caller's offer gives the codec (FreeSWITCH numbers its
        dynamic payload types itself: offered_payload_type), which the video capture is
        made with; the default is the codec's own in VIDEO_CODECS. color: a plain
        picture of that colour instead of the test picture; echo: send back the RTP
        that comes in (SIPp's -rtp_echo; best with audio and video off); bursts: the
        audio is a second of tone and a second of silence in turn (a speaker)."""
        from tests import media as captures

        audio_file = captures.audio_alaw(bursts=bursts) if audio else None
        video_pcap = None
        if video:
            pt = payload_type or VIDEO_CODECS[codec][0]
            video_pcap = captures.video_pcap(talk_s, codec, payload_type=pt, color=color,
                                             fps=fps)
        name = "video-answer"
        argv = self.argv(name, video_answer_scenario(audio_file, video_pcap, codec),
                         *self._traced(name), *(["-rtp_echo"] if echo else []),
                         calls=calls)
        argv[argv.index("-timeout") + 1] = str(max(self.timeout_s, int(talk_s) + 30))
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=self.folder)

    def error_log(self, name: str) -> str:
        path = self.folder / f"{name}.err"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def outcome(done: subprocess.CompletedProcess | subprocess.Popen, terminal: Terminal,
            name: str) -> str:
    """What to show when a SIPp run did not go as its scenario says."""
    out = done.stdout if isinstance(done.stdout, str) else ""
    return f"exit {done.returncode}\n{out[-1500:]}\nerrors:\n{terminal.error_log(name)}"


def point_to_point(caller: Terminal, callee: Terminal, talk_ms: int = 3000,
                   media: bool = True, wait_s: float = 30) -> None:
    """callee registers and takes the call that caller makes to its account; each SIPp
    run must end as its scenario says."""
    done = callee.register()
    assert done.returncode == 0, outcome(done, callee, "register-200")
    answering = callee.answer()
    try:
        time.sleep(0.5)
        call = caller.call(callee.account, 200, talk_ms=talk_ms, media=media)
        assert call.returncode == 0, outcome(call, caller, f"call-{callee.account}-200")
        answering.wait(timeout=wait_s)
        assert answering.returncode == 0, outcome(answering, callee, "answer")
    finally:
        if answering.poll() is None:
            answering.kill()
            answering.wait()
