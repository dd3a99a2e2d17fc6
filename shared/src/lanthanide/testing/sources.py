"""The raw public list sources the list converter's check, some tests and the benchmarks read.

Never the running product's: it screens against the lists shipped in screening's package, and
operators load newer ones with `lanthanide reference load|fetch`. The folder is named by
LANTHANIDE_SHARED_DATA (the test session's conftest sets it to `.cache/public-sources` inside the
checkout, git-ignored: put or link the public list files there); without it, `.cache/public-sources`
under the working directory (`make bench` runs in the checkout). Nothing outside the checkout is
looked at unless the environment names it, and the installed package never works out a checkout
from its own path; the tests that need these files skip when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "LANTHANIDE_SHARED_DATA"


def public_sources() -> Path:
    """The folder holding the raw public list files (lists/, names/)."""
    env = os.environ.get(ENV)
    return Path(env) if env else Path(".cache") / "public-sources"
