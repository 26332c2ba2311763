"""The simulator treats NXT/통합 keys as LS does (LS_OPENAPI.md §2.3): a plain code on US3 is accepted
and never streams (and still counts as a registration), the padded ``U`` key streams."""

from __future__ import annotations

from gatherer.sim.server import Simulator
from gatherer.venues.ls.keys import format_tr_key
from gatherer.venues.ls.ws import Session

from ..helpers.session import Recorder
from .test_ws import token_for


async def test_a_plain_code_on_us3_is_accepted_and_never_streams(sim: Simulator) -> None:
    token = await token_for(sim)
    rec = Recorder()
    session = await Session.connect(sim.ws_url, "t-1", rec, clock=sim.clock)
    code = sim.universe.instruments["kospi"][0].symbol
    plain = await session.subscribe(token, "US3", code, check=True)
    assert plain.accepted and plain.rsp_cd == "00000"
    good = format_tr_key("US3", code)
    assert good == "U" + code + "   "
    await session.subscribe(token, "US3", good, check=True)
    await rec.until(lambda: len(rec.data.get(("US3", good), [])) >= 20)
    assert not rec.data.get(("US3", code))
    assert sim.hub.registrations_total() == 2  # held all the same, as LS counts it
    await session.close()
