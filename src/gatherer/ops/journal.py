"""``gatherer journal cat``: a journal's records as JSON lines, optionally one TR's only.

The journal keeps payloads as opaque bytes; this reader knows they are LS messages, so it can name
each record's TR and filter by it (``venues.ls.envelope.tr_cd_of``, a byte scan, no parse).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gatherer.capture import Damage, Record, iter_records
from gatherer.venues.ls.envelope import tr_cd_bytes, tr_cd_of


def record_to_dict(record: Record) -> dict[str, Any]:
    """A JSON-able view of a record: payload as text when utf-8, else base64; its TR when it is LS JSON."""
    out: dict[str, Any] = {
        "kind": record.kind.name,
        "seq": record.seq,
        "recv_ns": record.recv_ns,
        "conn_id": record.conn_id,
    }
    try:
        out["payload"] = record.payload.decode("utf-8")
    except UnicodeDecodeError:
        out["payload_b64"] = base64.b64encode(record.payload).decode("ascii")
    tr_cd = tr_cd_of(record.payload)
    if tr_cd is not None:
        out["tr_cd"] = tr_cd
    return out


def cat(
    path: Path | str, tr: str | None = None, on_damage: Callable[[Damage], None] | None = None
) -> Iterator[dict[str, Any]]:
    """One JSON-able dict per record (see ``record_to_dict``), optionally only one ``tr_cd``."""
    want = None if tr is None else tr.encode()
    keep = None if want is None else (lambda r: tr_cd_bytes(r.payload) == want)
    for record in iter_records(path, keep=keep, on_damage=on_damage):
        yield record_to_dict(record)


__all__ = ["cat", "record_to_dict"]
