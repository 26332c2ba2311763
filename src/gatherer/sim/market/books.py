"""How an instrument's book moves: the opening book, quote changes, refills to full depth, and
trades that walk it.

Each function advances one ``_State`` by one step, drawing from the ``random.Random`` it is
given, in a fixed order: the same generator state gives the same book. Prices stay on the
instrument's tick grid and within its limits, bids below asks; a trade takes from the touch and
removes the levels it empties. Nothing here renders frames or reads a clock.
"""

from __future__ import annotations

import random
from math import log as _log

from gatherer.sim.market.state import _State, _Traded


def open_book(st: _State, rng: random.Random) -> None:
    """Opening book: the bid at the reference price, the ask one tick above, contiguous outward."""
    bid = max(st.ref, st.lo)
    if bid >= st.hi:
        bid = st.down(st.hi)
    st.bid_px.append(bid)
    st.ask_px.append(st.up(bid))
    for qty, cnt, nxt in ((st.bid_qty, st.bid_cnt, st.bid_nxt), (st.ask_qty, st.ask_cnt, st.ask_nxt)):
        q, c, n = _level(st, rng)
        qty.append(q)
        cnt.append(c)
        nxt.append(n)
    refill(st, False, rng)
    refill(st, True, rng)


def _level(st: _State, rng: random.Random) -> tuple[int, int, int]:
    """A new level's (quantity, order count, NXT quantity): exponential sizes around the typical one.

    The order count is the quantity over a typical order size, at least one; only stocks have NXT.
    """
    rnd = rng.random
    q = 1 + int(-_log(1.0 - rnd()) * st.qty_mean)
    c = max(1, min(q, q // st.order_qty + (rnd() < 0.5)))
    return q, c, int(q * rnd() * 0.25) if st.family == "stock" else 0


def quote(st: _State, rng: random.Random) -> None:
    """One quote change: improve the touch inside the spread, add to a level, or cancel from one."""
    rnd = rng.random
    # The fair value mean-reverts to the reference with a uniform step of the variance of an
    # N(0, (0.15% of ref)^2) one (the shape does not matter here, and this is cheaper).
    st.fair += (st.fref - st.fair) * 0.002 + st.fstep * (rnd() - 0.5)
    r = rnd()
    bid, ask = st.bid_px[0], st.ask_px[0]
    if r < 0.3:
        tick = st.tick
        p = bid + tick(bid)
        if p < ask:
            if st.fair > (bid + ask) / 2:
                px, qty, cnt, nxt = st.bid_px, st.bid_qty, st.bid_cnt, st.bid_nxt
            else:
                p = ask - tick(ask - 1)
                px, qty, cnt, nxt = st.ask_px, st.ask_qty, st.ask_cnt, st.ask_nxt
            q, c, n = _level(st, rng)
            px.insert(0, p)
            qty.insert(0, q)
            cnt.insert(0, c)
            nxt.insert(0, n)
            if len(px) > st.depth:
                px.pop(), qty.pop(), cnt.pop(), nxt.pop()
            return
    ask_side = rnd() < 0.5
    if ask_side:
        px, qty, cnt, nxt = st.ask_px, st.ask_qty, st.ask_cnt, st.ask_nxt
    else:
        px, qty, cnt, nxt = st.bid_px, st.bid_qty, st.bid_cnt, st.bid_nxt
    i = int(-_log(1.0 - rnd()) / 0.5)
    if i >= len(px):
        i = len(px) - 1
    if r < 0.65:
        q = 1 + int(-_log(1.0 - rnd()) * st.qty_mean)
        if st.family == "stock" and rnd() < 0.2:
            nxt[i] += q
        else:
            qty[i] += q
            cnt[i] += 1
        return
    take = 1 + int(rnd() * qty[i])
    if take < qty[i] or len(px) == 1:
        qty[i] = max(1, qty[i] - take)
        cnt[i] = max(1, min(cnt[i] - 1, qty[i]))
        nxt[i] = nxt[i] // 2
        return
    del px[i], qty[i], cnt[i], nxt[i]
    refill(st, ask_side, rng)


def refill(st: _State, ask_side: bool, rng: random.Random) -> None:
    """Extend one side outward to full depth, within the price limits."""
    if ask_side:
        px, qty, cnt, nxt = st.ask_px, st.ask_qty, st.ask_cnt, st.ask_nxt
    else:
        px, qty, cnt, nxt = st.bid_px, st.bid_qty, st.bid_cnt, st.bid_nxt
    tick, depth, lo, hi = st.tick, st.depth, st.lo, st.hi
    while len(px) < depth:
        last = px[-1]
        p = last + tick(last) if ask_side else last - tick(last - 1)
        if p > hi or p < lo:
            return
        q, c, n = _level(st, rng)
        px.append(p)
        qty.append(q)
        cnt.append(c)
        nxt.append(n)


def trade(st: _State, rng: random.Random, nxt_only: bool = False) -> _Traded | None:
    """An aggressive order that takes from the opposite side, walking levels if it is large;
    ``nxt_only`` (NXT's pre/after market) takes only NXT's quantities."""
    st.fair += (st.fref - st.fair) * 0.002 + st.fstep * (rng.random() - 0.5)  # as in quote
    last = st.krx.price if st.krx.volume else st.ref
    x = (st.fair - last) / (st.ref * 0.01 + 1)
    x = 1.0 if x > 1.0 else -1.0 if x < -1.0 else x
    buy = rng.random() < 0.5 + 0.3 * x
    if buy:
        px, qty, cnt, nxt = st.ask_px, st.ask_qty, st.ask_cnt, st.ask_nxt
    else:
        px, qty, cnt, nxt = st.bid_px, st.bid_qty, st.bid_cnt, st.bid_nxt
    on_nxt = st.family == "stock" and (nxt_only or rng.random() < 0.15) and nxt[0] > 0
    if nxt_only and not on_nxt:
        return None
    book = nxt if on_nxt else qty
    avail = sum(book) - 1
    if rng.random() < 0.05:
        size = sum(book[:3])
    else:
        size = 1 + int(-_log(1.0 - rng.random()) / 3.0 * book[0])
    if size > avail:
        size = avail
    if size <= 0:
        return None
    before = last
    remaining, notional, i, walked, price = size, 0, 0, 0, px[0]
    while remaining:
        take = book[i] if book[i] < remaining else remaining
        if take:
            book[i] -= take
            remaining -= take
            notional += take * px[i]
            price = px[i]
        if book[i] == 0 and not on_nxt:
            del px[i], qty[i], cnt[i], nxt[i]
            walked += 1
        else:
            if not on_nxt:
                cnt[i] = max(1, min(cnt[i], qty[i]))
            i += 1
    if len(px) < st.depth:
        refill(st, buy, rng)
    venue = "nxt" if on_nxt else "krx"
    return _Traded(venue, buy, price, size, notional, walked, before)
