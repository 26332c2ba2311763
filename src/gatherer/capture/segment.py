"""The journal segment format, version 1, and its incremental reader.

Its job is bytes <-> records: encode a segment header and blocks of records, and scan bytes back
into headers, blocks and damaged regions. It never opens a file or a socket; the writer, the
recovery and a live tailer all feed it bytes. Payloads are opaque: nothing here parses a frame.

A segment file (all integers little-endian)::

    file header, 48 bytes
      magic        4s   b"GJSG"
      version      u16  1
      flags        u16  0
      worker_id    16s  utf-8, NUL padded (e.g. b"w00")
      segment      u32  segment number, per worker, increasing across days and runs
      first_seq    u64  sequence number of the first record this segment may hold
      created_ns   i64  UTC nanoseconds when the segment was created
      header_crc   u32  CRC32C of the 44 bytes before it
    block*

    block header, 36 bytes
      magic        4s   b"GJBK"
      version      u8   1
      codec        u8   1 = zstd (one zstd frame per block)
      reserved     u16  0
      stored_len   u32  length of the compressed body that follows
      raw_len      u32  length of the body once decompressed
      record_count u32
      first_seq    u64  sequence number of the block's first record; the rest follow by one
      body_crc     u32  CRC32C of the compressed body
      header_crc   u32  CRC32C of the 32 bytes before it
    body: zstd(record*)

    record, 18 bytes + conn_id + payload
      kind         u8   1 FRAME (received), 2 SENT, 3 EVENT (small JSON: connect, ack, refusal, ...)
      conn_id_len  u8
      payload_len  u32
      recv_ns      i64  UTC nanoseconds
      payload_crc  u32  CRC32C of the payload
      conn_id      utf-8 (e.g. "w00-c003")
      payload      the bytes as received

A reader that meets a bad block header scans forward for the next block magic whose header CRC
holds; a bad body is skipped by its (header-checked) length. Damage followed by a good block is
``Corrupt``; damage at the end of the data is a torn tail, which only ``SegmentScanner.finish``
can call, because a live tailer may simply not have the rest of the block yet.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import google_crc32c
import zstandard

FORMAT_VERSION = 1
SEGMENT_SUFFIX = ".journal"

SEGMENT_MAGIC = b"GJSG"
BLOCK_MAGIC = b"GJBK"
CODEC_ZSTD = 1

_SEGMENT_HEAD = struct.Struct("<4sHH16sIQq")
_BLOCK_HEAD = struct.Struct("<4sBBHIIIQI")
_RECORD_HEAD = struct.Struct("<BBIqI")
_U32 = struct.Struct("<I")

SEGMENT_HEADER_SIZE = _SEGMENT_HEAD.size + 4
BLOCK_HEADER_SIZE = _BLOCK_HEAD.size + 4
RECORD_HEADER_SIZE = _RECORD_HEAD.size
MAX_WORKER_ID_BYTES = 16

_crc = google_crc32c.value


class Kind(enum.IntEnum):
    """What a record holds."""

    FRAME = 1
    """A frame the connection received, exactly as received."""
    SENT = 2
    """Something we sent on the connection (a registration, a ping)."""
    EVENT = 3
    """A small JSON document: connect, disconnect, ack, refusal, token refresh."""


@dataclass(frozen=True, slots=True)
class Record:
    """One journal record; ``seq`` numbers a worker's records without gaps across segments."""

    kind: Kind
    seq: int
    recv_ns: int
    conn_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    """The header at the start of every segment file."""

    version: int
    worker_id: str
    segment: int
    first_seq: int
    created_ns: int


@dataclass(frozen=True, slots=True)
class Block:
    """A block whose checksums held; ``records`` is None when the scanner was told not to decode."""

    offset: int
    size: int
    first_seq: int
    record_count: int
    raw_len: int
    records: tuple[Record, ...] | None

    @property
    def end_seq(self) -> int:
        return self.first_seq + self.record_count


@dataclass(frozen=True, slots=True)
class Corrupt:
    """Damaged bytes followed by a good block; ``records_lost`` comes from the sequence gap."""

    offset: int
    length: int
    reason: str
    records_lost: int | None


@dataclass(frozen=True, slots=True)
class TornTail:
    """Bytes after the last good block: an interrupted write. ``records_lost`` is a lower bound."""

    offset: int
    length: int
    records_lost: int


Item = SegmentHeader | Block | Corrupt | TornTail


def encode_segment_header(worker_id: str, segment: int, first_seq: int, created_ns: int) -> bytes:
    wid = worker_id.encode()
    if not 0 < len(wid) <= MAX_WORKER_ID_BYTES:
        raise ValueError(f"worker id {worker_id!r} must be 1..{MAX_WORKER_ID_BYTES} bytes of utf-8")
    head = _SEGMENT_HEAD.pack(SEGMENT_MAGIC, FORMAT_VERSION, 0, wid, segment, first_seq, created_ns)
    return head + _U32.pack(_crc(head))


def decode_segment_header(data: bytes | bytearray | memoryview) -> SegmentHeader | None:
    """The header in the first 48 bytes, or None when they are not a valid version-1 header."""
    if len(data) < SEGMENT_HEADER_SIZE:
        return None
    head = bytes(data[: _SEGMENT_HEAD.size])
    (crc,) = _U32.unpack_from(data, _SEGMENT_HEAD.size)
    if crc != _crc(head):
        return None
    magic, version, _flags, wid, segment, first_seq, created_ns = _SEGMENT_HEAD.unpack(head)
    if magic != SEGMENT_MAGIC or version != FORMAT_VERSION:
        return None
    return SegmentHeader(version, wid.rstrip(b"\0").decode(), segment, first_seq, created_ns)


def encode_record(kind: int, conn_id: bytes, recv_ns: int, payload: bytes) -> bytes:
    """One record; the writer inlines the same three pieces on its hot path."""
    head = _RECORD_HEAD.pack(kind, len(conn_id), len(payload), recv_ns, _crc(payload))
    return head + conn_id + payload


def encode_block(
    raw: bytes | bytearray, record_count: int, first_seq: int, compressor: zstandard.ZstdCompressor
) -> bytes:
    """Header plus one zstd frame of ``raw`` (records encoded back to back)."""
    body = compressor.compress(raw)
    head = _BLOCK_HEAD.pack(
        BLOCK_MAGIC, FORMAT_VERSION, CODEC_ZSTD, 0, len(body), len(raw), record_count, first_seq, _crc(body)
    )
    return head + _U32.pack(_crc(head)) + body


def decode_records(raw: bytes, first_seq: int, record_count: int) -> tuple[Record, ...]:
    """The records of a decompressed block body; raises ValueError when they do not add up."""
    out: list[Record] = []
    pos = 0
    end = len(raw)
    unpack = _RECORD_HEAD.unpack_from
    kinds = {k.value: k for k in Kind}
    seq = first_seq
    while pos < end:
        if end - pos < RECORD_HEADER_SIZE:
            raise ValueError(f"record header cut at body byte {pos}")
        kind, cid_len, n, recv_ns, crc = unpack(raw, pos)
        pos += RECORD_HEADER_SIZE
        cid_end = pos + cid_len
        stop = cid_end + n
        if stop > end:
            raise ValueError(f"record at body byte {pos - RECORD_HEADER_SIZE} runs past the block")
        payload = raw[cid_end:stop]
        if _crc(payload) != crc:
            raise ValueError(f"record {seq} payload checksum mismatch")
        k = kinds.get(kind)
        if k is None:
            raise ValueError(f"record {seq} has unknown kind {kind}")
        out.append(Record(k, seq, recv_ns, raw[pos:cid_end].decode(), payload))
        pos = stop
        seq += 1
    if len(out) != record_count:
        raise ValueError(f"block holds {len(out)} records, header says {record_count}")
    return tuple(out)


@dataclass(slots=True)
class _Header:
    stored_len: int
    raw_len: int
    record_count: int
    first_seq: int
    body_crc: int


def _block_header_at(buf: bytes | bytearray, pos: int) -> _Header | None:
    if buf[pos : pos + 4] != BLOCK_MAGIC:
        return None
    (crc,) = _U32.unpack_from(buf, pos + _BLOCK_HEAD.size)
    if crc != _crc(bytes(buf[pos : pos + _BLOCK_HEAD.size])):
        return None
    _m, version, codec, _r, stored, raw_len, count, first_seq, body_crc = _BLOCK_HEAD.unpack_from(buf, pos)
    if version != FORMAT_VERSION or codec != CODEC_ZSTD:
        return None
    return _Header(stored, raw_len, count, first_seq, body_crc)


def block_span(buf: bytes | bytearray, pos: int) -> tuple[int, int, int] | None:
    """(size in bytes, first seq, record count) of the block whose header is at ``pos``, its header's
    checksum held; None when no valid header is there. The body is not checked (its reader does)."""
    head = _block_header_at(buf, pos)
    if head is None:
        return None
    return BLOCK_HEADER_SIZE + head.stored_len, head.first_seq, head.record_count


class SegmentScanner:
    """Incremental reader: ``feed`` bytes, get back whole items, the remainder is kept.

    Offsets in the items are absolute from the start of the stream (``start_offset``), so a
    tailer that resumes mid-file passes the offset it resumes at and ``expect_header=False``.
    With ``decode=False`` blocks are checked (both CRCs) but not decompressed, which is what
    recovery needs.
    """

    def __init__(self, *, expect_header: bool = True, decode: bool = True, start_offset: int = 0) -> None:
        self._buf = bytearray()
        self._base = start_offset
        self._need_header = expect_header
        self._decode = decode
        self._dctx = zstandard.ZstdDecompressor()
        self._bad_start: int | None = None
        self._bad_reason = ""
        self._next_seq: int | None = None
        self._bad_records = 0
        self._waiting_records = 0
        self.good_end = start_offset
        """Absolute offset just past the last good header or block: where a torn tail starts."""

    @property
    def offset(self) -> int:
        """Absolute offset of the first byte not yet consumed."""
        return self._base

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of an item (or for a resync after damage)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Item]:
        self._buf += data
        out: list[Item] = []
        if self._need_header:
            if len(self._buf) < SEGMENT_HEADER_SIZE:
                return out
            self._need_header = False
            header = decode_segment_header(self._buf)
            if header is None:
                self._mark_bad(0, "bad segment header")
            else:
                self._next_seq = header.first_seq
                out.append(header)
                self._consume(SEGMENT_HEADER_SIZE)
                self.good_end = self._base
        while self._step(out):
            pass
        return out

    def finish(self) -> list[Item]:
        """End of data: whatever is left after the last good item is a torn tail."""
        if not self._buf and self._bad_start is None:
            return []
        start = self._base if self._bad_start is None else self._bad_start
        length = self._base + len(self._buf) - start
        tail = TornTail(start, length, self._bad_records + self._waiting_records)
        self._consume(len(self._buf))
        self._bad_start = None
        self._bad_records = self._waiting_records = 0
        return [tail]

    def _consume(self, n: int) -> None:
        del self._buf[:n]
        self._base += n

    def _mark_bad(self, pos: int, reason: str) -> None:
        if self._bad_start is None:
            self._bad_start = self._base + pos
            self._bad_reason = reason

    def _step(self, out: list[Item]) -> bool:
        """Take one item from the front of the buffer; False when more bytes are needed."""
        buf = self._buf
        if self._bad_start is not None:
            return self._resync(out)
        if len(buf) < BLOCK_HEADER_SIZE:
            return False
        head = _block_header_at(buf, 0)
        if head is None:
            self._mark_bad(0, "bad block header")
            self._consume(1)
            return True
        size = BLOCK_HEADER_SIZE + head.stored_len
        if len(buf) < size:
            self._waiting_records = head.record_count
            return False
        self._waiting_records = 0
        body = bytes(buf[BLOCK_HEADER_SIZE:size])
        offset = self._base
        if _crc(body) != head.body_crc:
            self._mark_bad(0, "block checksum mismatch")
            self._bad_records += head.record_count
            self._consume(size)
            return True
        records: tuple[Record, ...] | None = None
        if self._decode:
            try:
                raw = self._dctx.decompress(body, max_output_size=head.raw_len)
                if len(raw) != head.raw_len:
                    raise ValueError(f"block decompressed to {len(raw)} bytes, header says {head.raw_len}")
                records = decode_records(raw, head.first_seq, head.record_count)
            except (zstandard.ZstdError, ValueError, UnicodeDecodeError) as exc:
                # Checksums held, so this is a writer bug, not disk damage; report it all the same.
                self._mark_bad(0, f"block does not decode: {exc}")
                self._bad_records += head.record_count
                self._consume(size)
                return True
        self._consume(size)
        self.good_end = self._base
        self._next_seq = head.first_seq + head.record_count
        out.append(Block(offset, size, head.first_seq, head.record_count, head.raw_len, records))
        return True

    def _resync(self, out: list[Item]) -> bool:
        """After damage: find the next valid block header; report the damage once found."""
        buf = self._buf
        pos = 0
        while True:
            pos = buf.find(BLOCK_MAGIC, pos)
            if pos < 0 or len(buf) - pos < BLOCK_HEADER_SIZE:
                # Drop what cannot start a block (the damage's offset is kept in _bad_start) and
                # keep a possible partial header for the next feed, so memory stays bounded.
                keep = max(0, len(buf) - (BLOCK_HEADER_SIZE - 1)) if pos < 0 else pos
                self._consume(keep)
                return False
            head = _block_header_at(buf, pos)
            if head is not None:
                break
            pos += 1
        assert self._bad_start is not None
        start = self._bad_start
        lost = None if self._next_seq is None else head.first_seq - self._next_seq
        self._consume(pos)
        out.append(Corrupt(start, self._base - start, self._bad_reason, lost))
        self._bad_start = None
        self._bad_records = 0
        self._next_seq = head.first_seq
        return True
