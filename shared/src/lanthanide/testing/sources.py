"""The raw public list sources the converter, some tests and the benchmarks read.

Never the running product's: it screens against the lists shipped in screening's package.
LANTHANIDE_SHARED_DATA names the folder; without it, a `shared/data` folder beside the checkout
is used when there is one (tests that need it skip otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path

# shared/src/lanthanide/testing/sources.py -> parents[4] is the checkout.
_CHECKOUT = Path(__file__).resolve().parents[4]


def public_sources() -> Path:
    """The folder holding the raw public list files (lists/, names/)."""
    env = os.environ.get("LANTHANIDE_SHARED_DATA")
    return Path(env) if env else (_CHECKOUT.parent / "shared" / "data").resolve()
