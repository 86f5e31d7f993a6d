"""SIPp as the SIP terminals of the tests (DESIGN §4): scenarios written here, SIPp run
against a FreeSWITCH, its exit status and its error log as the result.

Scenario fields come from an injection file, one line per terminal:
[field0] account, [field1] domain, [field2] its digest credentials.
Every INVITE and REGISTER is challenged (the internal profile authenticates every
address), so each scenario answers the challenge with [field2].
"""

from __future__ import annotations

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
             to: str = "") -> list[str]:
    lines = [f"{method} {uri} SIP/2.0",
             "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
             "From: <sip:[field0]@[field1]>;tag=[call_number]",
             f"To: <{to or uri}>",
             "Call-ID: [call_id]", f"CSeq: {cseq} {method}",
             "Contact: <sip:[field0]@[local_ip]:[local_port]>", *extra,
             "Max-Forwards: 70", f"User-Agent: {USER_AGENT}"]
    if sdp:
        return [*lines, "Content-Type: application/sdp", "Content-Length: [len]", "",
                *SDP]
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


@dataclass
class Terminal:
    """One SIP device of an account: its SIPp runs share its local SIP and media ports."""

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

    def argv(self, name: str, scenario: str, *extra: str) -> list[str]:
        path, users = self._files(name, scenario)
        return [locate("sipp"), self.server, "-sf", str(path), "-inf", str(users),
                "-m", "1", "-i", "127.0.0.1", "-p", str(self.sip_port),
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
