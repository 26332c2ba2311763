"""The receive path's shortcuts say exactly what the slow paths say.

The worker tells data frames from acknowledgements, and names their stream, with one regular
expression (``envelope.match_compact_data``) instead of prefix checks plus a search of the whole
payload for ``rsp_cd``; the journal keeps ``backlogged`` as an attribute instead of computing it.
Each is checked here against the plain definition, on LS's example frames and on random ones
(odd keys, quotes and braces in the key, acknowledgements, cut-off frames, other layouts).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gatherer.capture import Journal, JournalSettings, Kind
from gatherer.clock import ManualClock
from gatherer.run.recorder import ConnectionStats, Recorder
from gatherer.venues.ls.envelope import (
    frame_stream,
    match_compact_data,
    maybe_ack,
    read_header,
    stream_key,
)

from ..conftest import ls_example

T0 = 1_764_000_000_000_000_000
_RSP_CD = b'"rsp_cd"'


def reference_ack(payload: bytes) -> object:
    """``maybe_ack`` by its definition: the header, when the payload's header carries rsp_cd."""
    if _RSP_CD not in payload:
        return None
    header = read_header(payload)
    return header if header is not None and header.is_ack else None


def reference_stream(payload: bytes) -> bytes | None:
    """``frame_stream`` as it was written before the regular expression (prefix checks, a search)."""
    prefix, sep = b'{"header":{"tr_cd":"', b'","tr_key":"'
    if payload.startswith(prefix) and payload.startswith(sep, len(prefix) + 3):
        end = payload.find(b'"', len(prefix) + 3 + len(sep))
        if end > 0 and payload.startswith(b"}", end + 1):
            return payload[len(prefix) : end]
    return slow_stream(payload)


def slow_stream(payload: bytes) -> bytes | None:
    """``frame_stream`` of a frame in any other layout: a decode of the header."""
    if _RSP_CD in payload:
        return None
    header = read_header(payload)
    if header is None or header.tr_cd is None or header.tr_key is None or header.is_ack:
        return None
    return stream_key(header.tr_cd, header.tr_key)


_text = st.text(alphabet=st.sampled_from('ab0 9_"}{\\:,\n가'), max_size=8)


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    tr_cd = draw(st.one_of(st.sampled_from(["S3_", "H1_", "JIF", "FC0", "OVC"]), _text))
    tr_key = draw(_text)
    header: dict[str, object] = {"tr_cd": tr_cd, "tr_key": tr_key}
    if draw(st.booleans()):  # an acknowledgement, or an error about a registration
        header |= {"tr_type": "3", "rsp_cd": draw(st.sampled_from(["00000", "IGW00201"])), "rsp_msg": "m"}
    body = None if "rsp_cd" in header else {"price": draw(_text), "rsp_cd": draw(_text)}
    msg: dict[str, object] = {"header": header, "body": body}
    if draw(st.booleans()):
        msg = {"body": body, "header": header}  # another implementation's order
    raw = json.dumps(msg, ensure_ascii=False, separators=(",", ":"), indent=draw(st.sampled_from([None, 1])))
    data = raw.encode()
    cut = draw(st.integers(0, len(data) + 1))
    return data if cut > len(data) else data[:cut]


@settings(max_examples=400, deadline=None)
@given(payloads())
@example(b'{"header":{"tr_cd":"S3_","tr_key":"a\\"}","tr_type":"3","rsp_cd":"00000"},"body":null}')
@example(b'{"header":{"tr_cd":"S3_","tr_key":"a\\"}"},"body":{}}')
def test_the_compact_match_agrees_with_the_plain_definitions(payload: bytes) -> None:
    assert maybe_ack(payload) == reference_ack(payload)
    if b"\\" not in payload:  # the old prefix checks misread an escaped quote as the key's end
        assert frame_stream(payload) == reference_stream(payload)
    if match_compact_data(payload) is None:
        assert frame_stream(payload) == slow_stream(payload)
    if match_compact_data(payload) is not None:  # what lets the session skip its own check
        assert reference_ack(payload) is None


def test_ls_example_frames_match_as_compact_data() -> None:
    for tr in ("S3_", "H1_", "K1_", "FC0", "OVC", "JIF"):
        frame = ls_example(tr)["response"]
        compact = json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode()
        m = match_compact_data(compact)
        assert m is not None and m[1] == stream_key(frame["header"]["tr_cd"], frame["header"]["tr_key"])
        ack = {"header": {**frame["header"], "tr_type": "3", "rsp_cd": "00000"}, "body": None}
        ack_bytes = json.dumps(ack, separators=(",", ":")).encode()
        assert match_compact_data(ack_bytes) is None and maybe_ack(ack_bytes) is not None


async def test_backlogged_is_exactly_pending_over_the_bound(tmp_path: Path) -> None:
    cfg = JournalSettings(commit_interval_s=3600, max_pending_bytes=20_000, block_bytes=4_000)
    clock = ManualClock(T0)
    rng = random.Random(7)
    journal = await Journal.open(tmp_path, "w00", settings=cfg, clock=clock)
    try:
        flips = 0
        for round_ in range(4):
            was = journal.backlogged
            for _ in range(60):
                journal.append(Kind.FRAME, "w00-c001", rng.randbytes(rng.randrange(0, 900)), clock.time_ns())
                assert journal.backlogged == (journal.pending_bytes > cfg.max_pending_bytes)
            flips += was != journal.backlogged
            await journal.flush()
            assert not journal.backlogged and journal.pending_bytes == 0, round_
        assert flips  # the bound was crossed, so the test saw both states
    finally:
        await journal.close()


async def test_the_recorder_vouches_only_for_compact_data(
    tmp_path: Path,
) -> None:
    """The session skips its acknowledgement check exactly when its sink returns True: the recorder
    must say True for LS's compact data frames only, so acks (and other layouts) still reach it."""

    frame = ls_example("S3_")["response"]
    data = json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode()
    ack = json.dumps(
        {"header": {**frame["header"], "tr_type": "3", "rsp_cd": "00000", "rsp_msg": "ok"}, "body": None},
        separators=(",", ":"),
    ).encode()
    spaced = json.dumps(frame, ensure_ascii=False, indent=1).encode()
    async with Journal(tmp_path, "w00", clock=ManualClock(T0)) as journal:
        streams: dict[bytes, int] = {}
        recorder = Recorder(journal, ConnectionStats("w00-c000", 1), streams)
        assert recorder(data, T0) is True
        assert recorder(ack, T0 + 1) is False and maybe_ack(ack) is not None
        assert recorder(spaced, T0 + 2) is False  # another layout: the session looks for itself
        key = stream_key(frame["header"]["tr_cd"], frame["header"]["tr_key"])
        assert streams == {key: 2} and journal.next_seq == 3
