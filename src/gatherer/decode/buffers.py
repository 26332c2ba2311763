"""Pending rows of a decoder, per (TR, market), until they become batches of ``batch_rows`` rows.

Two kinds, with the same batches out:

- ``TypedRows`` holds rows already typed when their frame was added (the per-value path); a
  (TR, market) with ``batch_rows`` rows becomes a batch at once.
- ``TextRows`` holds rows whose body values are still as sent, and types them a column at a time
  (``arrow.text_batch``) when a (TR, market) could fill a batch, at ``flush`` and when
  ``pending_rows`` could reach ``batch_rows``. Rows with a bad value are dropped there and handed
  to ``refuse``; the good ones fill batches exactly as ``TypedRows`` would have: a batch is made
  when the ``batch_rows``-th good row arrives, and ``flush`` returns the partial batches in the
  order their first good row arrived since the last flush.

A text row is its ``(index, seq, recv_ns, conn_id, payload, symbol, extra)`` and its values in row
order, which are appended to one flat list per (TR, market) (Arrow makes one array of it and
takes the columns apart); ``index`` counts frames added, so batches and refusals can be put in
arrival order. Nothing here decodes JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from gatherer.decode.arrow import Batch

Key = tuple[str, str]
"""(tr_cd, market)."""
TypeRows = Callable[[Key, list[tuple[Any, ...]], list[Any]], tuple[Batch, dict[int, str]]]
"""Text rows of one key (heads, flat values) -> the batch of the good ones, and the bad ones'
details by position."""
Refuse = Callable[[Key, tuple[Any, ...], str], None]
"""A text row with a bad value, and the detail."""


class TypedRows:
    """Rows typed on arrival (``RowPlan.values``): ``(seq, recv_ns, conn_id, symbol, extra, *values)``."""

    def __init__(self, batch_rows: int, make: Callable[[Key, list[tuple[Any, ...]]], Batch]) -> None:
        self._batch_rows = batch_rows
        self._make = make
        self._pending: dict[Key, list[tuple[Any, ...]]] = {}
        self._ready: list[Batch] = []
        self.rows_total = 0

    def add(self, key: Key, row: tuple[Any, ...]) -> None:
        rows = self._pending.get(key)
        if rows is None:
            rows = self._pending[key] = []
        rows.append(row)
        self.rows_total += 1
        if len(rows) >= self._batch_rows:
            self._ready.append(self._make(key, rows))
            self._pending[key] = []

    def flush(self) -> list[Batch]:
        out = self._ready
        self._ready = []
        for key, rows in self._pending.items():
            if rows:
                out.append(self._make(key, rows))
        self._pending = {}
        return out

    @property
    def pending_rows(self) -> int:
        return sum(map(len, self._pending.values())) + sum(int(b.table.num_rows) for b in self._ready)


@dataclass(slots=True)
class _Pending:
    heads: list[tuple[Any, ...]] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    typed: list[Batch] = field(default_factory=list)
    typed_rows: int = 0
    first_good: int = -1
    """Index of the first good row since the last flush (-1: none yet)."""


class TextRows:
    """Rows with values as sent, typed a column at a time (see the module docstring)."""

    def __init__(self, batch_rows: int, type_rows: TypeRows, refuse: Refuse) -> None:
        self._batch_rows = batch_rows
        self._type_rows = type_rows
        self._refuse = refuse
        self._pending: dict[Key, _Pending] = {}
        self._ready: list[Batch] = []
        self.rows_total = 0

    def add(self, key: Key, head: tuple[Any, ...], values: Iterable[Any]) -> None:
        p = self._pending.get(key)
        if p is None:
            p = self._pending[key] = _Pending()
        p.heads.append(head)
        p.values.extend(values)
        if p.typed_rows + len(p.heads) >= self._batch_rows:
            # Never more than batch_rows: typing happens as soon as the sum reaches it.
            self._type(key, p)
            if p.typed_rows >= self._batch_rows:
                self._ready.append(self._join(p))

    def flush(self) -> list[Batch]:
        out = self._ready
        self._ready = []
        for key, p in self._pending.items():
            self._type(key, p)
        waiting = sorted((p.first_good, key) for key, p in self._pending.items() if p.typed_rows)
        out.extend(self._join(self._pending[key]) for _, key in waiting)
        self._pending = {}
        return out

    @property
    def pending_rows(self) -> int:
        """Rows pending; frames not typed yet count as rows until the sum reaches ``batch_rows``,
        when they are typed, so the count is exact whenever it is ``batch_rows`` or more."""
        ready = sum(int(b.table.num_rows) for b in self._ready)
        upper = ready + sum(p.typed_rows + len(p.heads) for p in self._pending.values())
        if upper < self._batch_rows:
            return upper
        for key, p in self._pending.items():
            self._type(key, p)
        return ready + sum(p.typed_rows for p in self._pending.values())

    def _type(self, key: Key, p: _Pending) -> None:
        if not p.heads:
            return
        heads, values = p.heads, p.values
        p.heads, p.values = [], []
        batch, bad = self._type_rows(key, heads, values)
        for i, detail in sorted(bad.items()):
            self._refuse(key, heads[i], detail)
        good = int(batch.table.num_rows)
        if not good:
            return
        if p.first_good < 0:
            p.first_good = next(head[0] for i, head in enumerate(heads) if i not in bad)
        p.typed.append(batch)
        p.typed_rows += good
        self.rows_total += good

    @staticmethod
    def _join(p: _Pending) -> Batch:
        batches, p.typed, p.typed_rows = p.typed, [], 0
        if len(batches) == 1:
            return batches[0]
        first = batches[0]
        table = pa.concat_tables([b.table for b in batches]).combine_chunks()
        return Batch(first.tr_cd, first.market, first.channel, table)
