"""The LS envelope, read in one place: acknowledgements, registration requests, the TR code, and
which stream a data frame belongs to from its raw bytes (the receive path counts frames per stream)."""

from __future__ import annotations

import json

import pytest

from gatherer.venues.ls.envelope import (
    OK_CODE,
    SUBSCRIBE,
    frame_stream,
    maybe_ack,
    read_header,
    read_registration,
    registration_frame,
    stream_key,
    tr_cd_of,
)

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


@pytest.mark.parametrize("tr", TRS)
def test_ls_example_data_frames_are_no_acknowledgement_and_name_their_tr(tr: str) -> None:
    payload = json.dumps(ls_example(tr)["response"], ensure_ascii=False).encode()
    assert maybe_ack(payload) is None
    header = read_header(payload)
    assert header is not None and not header.is_ack and header.tr_cd == tr
    assert tr_cd_of(payload) == tr


def test_an_acknowledgement_reads_as_one_in_any_layout() -> None:
    compact = (
        b'{"header":{"tr_cd":"S3_","tr_key":"005930","tr_type":"3","rsp_cd":"00000","rsp_msg":"ok"},"body":null}'
    )
    spaced = b'{"body": null, "header": {"rsp_msg": "too fast", "rsp_cd": "IGW00201", "tr_cd": "S3_"}}'
    ok, refused = maybe_ack(compact), maybe_ack(spaced)
    assert ok is not None and ok.rsp_cd == OK_CODE and ok.tr_key == "005930" and ok.tr_type == SUBSCRIBE
    assert refused is not None and refused.rsp_cd == "IGW00201" and refused.tr_key is None
    assert maybe_ack(b'{"header":{"rsp_cd":') is None and read_header(b"[1, 2]") is None


def test_a_registration_request_reads_back_as_written() -> None:
    frame = registration_frame("<redacted>", SUBSCRIBE, "OVC", "ESZ26   ")
    assert read_registration(frame) == (SUBSCRIBE, "OVC", "ESZ26   ")
    assert read_registration(b'{"header":{"tr_type":"3"},"body":{"tr_cd":"OVC"}}') is None
    assert read_registration(b"junk") is None
    assert tr_cd_of(b'{"tr_cd":') is None and tr_cd_of(b"plain") is None
