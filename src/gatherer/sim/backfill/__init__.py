"""LS's backfill TRs (t1301, t8454, t2212/t2201, o3116, o3136) answered from the market model's
print history: ``parse_query`` reads an InBlock, ``page`` renders one page of rows."""

from gatherer.sim.backfill.pages import Cursor, Page, page
from gatherer.sim.backfill.query import (
    BACKFILL_TRS,
    DERIV_PAGE_ROWS,
    MAX_READCNT,
    STOCK_PAGE_ROWS,
    BackfillRequestError,
    Query,
    parse_query,
)

__all__ = [
    "BACKFILL_TRS",
    "DERIV_PAGE_ROWS",
    "MAX_READCNT",
    "STOCK_PAGE_ROWS",
    "BackfillRequestError",
    "Cursor",
    "Page",
    "Query",
    "page",
    "parse_query",
]
