"""deploy/prometheus (alert and recording rules, scrape config) checked and unit-tested with
promtool (Debian's prometheus package, installed here with apt-get when missing), and the
Grafana dashboard's queries naming only metrics the services export."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lanthanide import metrics
from prometheus_client import REGISTRY

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None and shutil.which("apt-get") is not None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "prometheus"],
                       env=env, capture_output=True, timeout=600)
        found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not installed and apt-get unavailable (Debian: apt-get install prometheus)")
    return found


def test_rules_pass_promtool_and_alerts_fire_on_their_series(promtool: str) -> None:
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"],
                 ["check", "config", "--syntax-only", "prometheus.yml"]):
        run = subprocess.run([promtool, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, (args, run.stdout, run.stderr)


def _exported_names() -> set[str]:
    import lanthanide_screening.bootstrap  # noqa: F401  (screening's own figures)

    metrics.prometheus_middleware("test")  # FastStream's families join the registry
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
    # Counters and histograms are queried by their sample names.
    names.update(f"{n}_total" for n in list(names))
    names.update(f"{n}_bucket" for n in list(names))
    return names


def test_dashboard_and_rules_query_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "lanthanide.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += re.findall(r"expr: (.+)", (DEPLOY / "prometheus" / "alerts.yml").read_text())
    recorded = set(re.findall(r"record: (\S+)", (DEPLOY / "prometheus" / "alerts.yml").read_text()))
    exported = _exported_names() | recorded | {"up"}
    wanted = {m for e in exprs for m in re.findall(r"\b((?:lanthanide|faststream)[:_][a-z0-9_:]+|up)\b", e)}
    assert wanted, exprs
    assert wanted <= exported, sorted(wanted - exported)
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for figure in ("decisions", "green-channel", "queue", "sla", "webhook", "dead letters", "lag", "ledger"):
        assert figure in titles, figure
