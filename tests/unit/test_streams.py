"""Which stream a frame belongs to, from its raw bytes (the receive path counts frames per stream)."""

from __future__ import annotations

import json
import timeit

import pytest

from gatherer.venues.ls.streams import frame_stream, stream_key

from ..conftest import ls_example

TRS = ["S3_", "H1_", "K1_", "FC0", "OVC", "WOH", "JIF", "NS3"]


@pytest.mark.parametrize("tr", TRS)
def test_ls_example_frames_name_their_stream_in_any_layout(tr: str) -> None:
    frame = ls_example(tr)["response"]
    key = stream_key(frame["header"]["tr_cd"], frame["header"]["tr_key"])
    compact = json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode()
    assert compact.startswith(b'{"header":{"tr_cd":"')  # LS's layout: read without a parse
    assert frame_stream(compact) == key
    spaced = json.dumps(frame, ensure_ascii=False, indent=2).encode()  # another implementation's
    assert frame_stream(spaced) == key
    reordered = {"body": frame["body"], "header": dict(reversed(list(frame["header"].items())))}
    assert frame_stream(json.dumps(reordered, separators=(",", ":")).encode()) == key


def test_padded_keys_are_kept_as_sent() -> None:
    frame = b'{"header":{"tr_cd":"OVC","tr_key":"ESZ26   "},"body":{"trdq":"1"}}'
    assert frame_stream(frame) == stream_key("OVC", "ESZ26   ") != stream_key("OVC", "ESZ26")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"header":{"tr_cd":"S3_","tr_key":"005930","tr_type":"3","rsp_cd":"00000","rsp_msg":"ok"},"body":null}',
        b'{"header": {"rsp_cd": "IGW00201", "tr_cd": "S3_", "tr_key": "005930"}, "body": null}',
        b"not json at all",
        b'{"header":{"tr_cd":"S3_"',  # cut short
        b'{"body":{"price":"1"}}',  # no header
        b'{"header":{"tr_cd":"S3_"},"body":{}}',  # no key
        b"",
    ],
)
def test_acknowledgements_and_broken_frames_are_no_stream(payload: bytes) -> None:
    assert frame_stream(payload) is None


def test_reading_the_stream_costs_well_under_a_microsecond_per_frame() -> None:
    frame = json.dumps(ls_example("H1_")["response"], ensure_ascii=False, separators=(",", ":")).encode()
    n = 100_000
    per_frame_s = min(timeit.repeat(lambda: frame_stream(frame), number=n, repeat=5)) / n
    print(f"\nframe_stream: {per_frame_s * 1e9:.0f} ns per {len(frame)}-byte H1_ frame")
    assert per_frame_s < 2e-6  # generous for a loaded machine; measured ~0.2 µs
