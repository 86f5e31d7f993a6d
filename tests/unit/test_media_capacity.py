"""The capacity bench's own arithmetic (bench/media_capacity.py, issue 16): how it counts
RTP it reads off the loopback, and when a level counts as broken. The figure itself runs
in `make bench`, never here."""

from __future__ import annotations

import struct
from pathlib import Path

from bench.media_capacity import Level, Stream, _bpf_udp_dst, audio_only, opus_answer
from tests.sipp import video_answer_scenario


def test_a_stream_counts_missing_packets_by_sequence_number_across_the_wrap() -> None:
    stream = Stream()
    for seq in (65533, 65534, 1, 2, 2, 3):  # 65535 and 0 lost, 2 duplicated
        stream.add(seq, seq // 2, 100)
    assert stream.packets == 6 and stream.octets == 600
    assert stream.expected == 1 + 1 + 3 + 1 + 1 + 1
    assert stream.frames == 4  # timestamps 32766, 32767, 0, 1


def test_a_level_breaks_on_cpu_frame_rate_or_audio_loss() -> None:
    def level(cpu: float = 0.5, fps: float | None = 30.0, loss_in: float = 0.0,
              loss_out: float = 0.0, rate: float = 1.0) -> Level:
        return Level(4, cpu, {}, fps, loss_in, loss_out, rate, 0.0)

    assert level().broken(video=True) == []
    assert level(cpu=0.85).broken(video=True) == ["CPU 85% >= 85%"]
    assert level(fps=24.9).broken(video=True) == ["canvas 24.9 fps < 25"]
    assert level(fps=None).broken(video=False) == []
    assert level(loss_in=0.02).broken(video=False) == ["audio loss 2.0% > 1%"]
    assert level(loss_out=0.011).broken(video=False)
    assert level(rate=0.95).broken(video=False)  # audio arriving late counts as lost


def test_the_bpf_program_jumps_inside_itself() -> None:
    prog = _bpf_udp_dst((30000, 30002))
    instructions = [struct.unpack("HBBI", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    for n, (code, jt, jf, _) in enumerate(instructions):
        if code & 0x07 == 0x05:  # a jump
            assert n + 1 + max(jt, jf) < len(instructions)
    assert instructions[-1] == (0x06, 0, 0, 0) and instructions[-2][0] == 0x06


def test_the_audio_only_answers_refuse_video_and_carry_the_offered_opus_type() -> None:
    pcma = audio_only(video_answer_scenario(None, None, "VP8"))
    assert "m=video 0 " in pcma
    opus = opus_answer(Path("/x/opus.pcap"), 116)
    assert "m=audio [media_port] RTP/AVP 116" in opus
    assert "a=rtpmap:116 opus/48000/2" in opus
    assert 'play_pcap_audio="/x/opus.pcap"' in opus and "m=video 0 " in opus
