"""The raw public list sources the list converter's check, some tests and the benchmarks read.

Never the running product's: it screens against the lists shipped in screening's package, and
operators load newer ones with `lanthanide reference load|fetch`. The folder is named by
LANTHANIDE_SHARED_DATA; without it, `.cache/public-sources` inside the checkout (git-ignored: put
or link the public list files there). Nothing outside the checkout is looked at unless the
environment names it; the tests that need these files skip when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

# shared/src/lanthanide/testing/sources.py -> parents[4] is the checkout.
_CHECKOUT = Path(__file__).resolve().parents[4]
ENV = "LANTHANIDE_SHARED_DATA"


def public_sources() -> Path:
    """The folder holding the raw public list files (lists/, names/)."""
    env = os.environ.get(ENV)
    return Path(env) if env else _CHECKOUT / ".cache" / "public-sources"
