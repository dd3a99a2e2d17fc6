"""`make bench`: the pipeline benchmark, its no-op relay baseline, scaling and resource use.

    uv run python bench/run_all.py [--quick] [--duration S] [--rates 100,250,500,1000]

One real single-node Kafka (lanthanide_kafka_runner, 6 partitions per topic) for the whole
run. Then:

1. pipeline: intake, screening, review, notification and audit as separate OS processes
   (their defaults: SQLite stores, INFO logs). Auto-decided applications (see loadgen.py) are
   offered at fixed rates (default 25 to 1000/s, straddling what 2 cores can decide) for
   `--duration` seconds each (default 4 s; rates above capacity only lengthen the drain), then
   flat out; each step waits until
   every application of the step is decided before the next starts. Latency = the decision
   record's timestamp (CreateTime, stamped by review's producer on this same host) minus the
   wall-clock time the load generator sent the submission; the latency the collector saw on
   receipt is kept as `latency_recv_ms`. Throughput = decisions / (last decision - first submit).
2. scaling: a second screening instance joins (its own SQLite file) and the flat-out step runs
   again.
3. baseline: the same schedule through a relay chain of plain aiokafka consumer/producers
   (bench/relay.py), one process per hop, submitted -> accepted -> screened -> decisions
   (3 hops, as in the pipeline), each hop re-emitting a value of the mean size the pipeline
   produced on that topic, plus two no-op fan-out readers standing in for notification
   (decisions) and audit (every topic), which the pipeline also runs on the same broker.

Writes bench/results/pipeline.json, pipeline.md, SUMMARY.md and two PNG plots.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import psutil
from aiokafka import TopicPartition
from lanthanide.kafka import ensure_topics, make_consumer, make_producer
from lanthanide.settings import KafkaSettings
from lanthanide.testing.kafka import load_runner
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port
from lanthanide.topics import Topics
from loadgen import DecisionCollector, ResourceSampler, Submission, build_submissions, offer, summarise

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PARTITIONS = 6
PIPELINE_TOPICS = [Topics.APPLICATIONS_SUBMITTED, Topics.APPLICATIONS_ACCEPTED,
                   Topics.SCREENING_COMPLETED, Topics.DECISIONS]
RELAY_TOPICS = [f"bench.relay.{i}" for i in range(4)]

Steps = list[tuple[float | None, int]]


class ProfiledProcess(ServiceProcess):
    """A service run under pyinstrument (wall clock, async-aware); the text report is written to
    bench/results/profiles/<service>-<instance>.txt when the service stops on SIGTERM."""

    def start(self) -> ProfiledProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = RESULTS / "profiles" / f"{self.service}-{self.instance}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "LANTHANIDE_INSTANCE": str(self.instance)}
        if self.http_port is not None:
            env[f"LANTHANIDE_{self.service.upper()}_HTTP_PORT"] = str(self.http_port)
        with self.log_path.open("ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out),
                 "-m", f"lanthanide_{self.service}"],
                env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.starts += 1
        return self


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


async def run_schedule(bootstrap: str, source: str, sink: str, steps: Steps, tag: str,
                       warmup: int = 40, warmup_timeout: float = 240.0,
                       on_step: Any = None) -> list[dict[str, Any]]:
    """Warm up, then offer each step's load and wait for its decisions; one summary per step."""
    collector = DecisionCollector(bootstrap, sink)
    await collector.start()
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap), "bench")
    await producer.start()
    try:
        warm = build_submissions(f"{tag}-WARM", warmup)
        await offer(producer, source, warm, None)
        if not await collector.wait_all({s.key for s in warm}, stall_s=warmup_timeout, cap_s=warmup_timeout):
            raise RuntimeError(f"warm-up: {len({s.key for s in warm} & collector.first.keys())}/{warmup} decided")
        results = []
        for index, (rate, n) in enumerate(steps):
            subs: list[Submission] = build_submissions(f"{tag}-S{index}", n)
            if on_step:
                on_step("before", index)
            submitted = await offer(producer, source, subs, rate)
            complete = await collector.wait_all(set(submitted))
            summary = summarise(submitted, collector.first, rate) | {"complete": complete}
            if on_step:
                on_step("after", index)
            log(f"  {tag} rate={rate or 'max'} n={n}: {summary['decided']} decided, "
                f"{summary.get('throughput_per_s')}/s, latency {summary.get('latency_ms')}")
            results.append(summary)
        return results
    finally:
        await producer.stop()
        await collector.stop()


async def mean_sizes(bootstrap: str, topics: list[str], sample: int = 300) -> dict[str, int]:
    """Mean value size of the first `sample` records of each topic."""
    sizes: dict[str, int] = {}
    for topic in topics:
        consumer = make_consumer(KafkaSettings(bootstrap_servers=bootstrap), client_id="bench", group_id=None,
                                 enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or range(PARTITIONS))]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            seen: list[int] = []
            deadline = time.monotonic() + 10
            while len(seen) < sample and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500, max_records=sample)).values():
                    seen.extend(len(r.value or b"") for r in records)
            sizes[topic] = int(statistics.fmean(seen)) if seen else 1000
        finally:
            await consumer.stop()
    return sizes


def pipeline_env(bootstrap: str, data_dir: Path) -> dict[str, str]:
    return {
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LANTHANIDE_KAFKA_PARTITIONS": str(PARTITIONS),
        "LANTHANIDE_DATA_DIR": str(data_dir),
        "LANTHANIDE_LOG_LEVEL": "INFO",
        "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": uuid4().hex,
        # The test receiver listens on loopback, which applicants' webhooks may not reach unless allowed.
        "LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "LANTHANIDE_REVIEW_TOKENS": json.dumps({uuid4().hex: {"user": "bench", "roles": ["reviewer"]}}),
        "LANTHANIDE_INTAKE_API_KEYS": json.dumps({uuid4().hex: "bench"}),
    }


async def run_pipeline(bootstrap: str, steps: Steps, flat_n: int, work: Path,
                       profile: bool = False) -> dict[str, Any]:
    env = pipeline_env(bootstrap, work / "data")
    kind = ProfiledProcess if profile else ServiceProcess
    procs = [kind(name, env=env, log_dir=work / "logs", http_port=free_port()) for name in SERVICES]
    for p in procs:
        p.start()
    extra: ServiceProcess | None = None
    sampler = ResourceSampler({p.service: p.proc.pid for p in procs if p.proc})
    sampler.start()
    cpu_marks: dict[str, dict[str, float]] = {}

    def mark(when: str, index: int) -> None:
        if index == 0 and when == "before":
            cpu_marks["start"] = sampler.cpu()
        if index == len(steps) - 1 and when == "after":
            cpu_marks["end"] = sampler.cpu()

    try:
        log("pipeline: services starting, warming up")
        results = await run_schedule(bootstrap, Topics.APPLICATIONS_SUBMITTED, Topics.DECISIONS,
                                     steps, "BENCH-P", on_step=mark)
        applications = sum(n for _, n in steps)
        cpu = {name: round((cpu_marks["end"][name] - cpu_marks["start"][name]) * 1000 / applications, 3)
               for name in cpu_marks["end"]}
        resources = {name: {"cpu_s_per_1000": cpu[name],
                            "peak_rss_mb": round(sampler.peak_rss[name] / 2**20, 1)} for name in cpu}
        log("scaling: a second screening instance joins")
        extra = ServiceProcess("screening", env={**env, "LANTHANIDE_DATA_DIR": str(work / "data-screening-1")},
                               log_dir=work / "logs", instance=1, http_port=free_port()).start()
        scaled = await run_schedule(bootstrap, Topics.APPLICATIONS_SUBMITTED, Topics.DECISIONS,
                                    [(None, flat_n)], "BENCH-X", warmup=60)
        sizes = await mean_sizes(bootstrap, PIPELINE_TOPICS)
    finally:
        sampler.stop()
        codes = {p.service: p.stop() for p in procs}
        if extra is not None:
            codes["screening-1"] = extra.stop()
    failed = {name: code for name, code in codes.items() if code not in (0, None)}
    if failed:
        log(f"WARNING: services exited non-zero: {failed} (logs in {work / 'logs'})")
    return {"steps": results, "scaling": {"screening_1": results[-1], "screening_2": scaled[0]},
            "resources": resources, "message_sizes": sizes, "exit_codes": codes}


def _start_relays(bootstrap: str, hops: list[list[str]], log_dir: Path) -> list[subprocess.Popen[bytes]]:
    """One bench/relay.py process per hop and per fan-out reader."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for i, a in enumerate(hops):
        with (log_dir / f"relay-{i}.log").open("ab") as out:
            procs.append(subprocess.Popen([sys.executable, str(HERE / "relay.py"), "--bootstrap", bootstrap, *a],
                                          stdout=out, stderr=subprocess.STDOUT))
    return procs


async def run_baseline(bootstrap: str, steps: Steps, sizes: dict[str, int], work: Path) -> dict[str, Any]:
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap, partitions=PARTITIONS), RELAY_TOPICS)
    hop_sizes = [sizes[t] for t in PIPELINE_TOPICS]
    args = [["--source", RELAY_TOPICS[i], "--sink", RELAY_TOPICS[i + 1], "--size", str(hop_sizes[i + 1]),
             "--group", f"bench-hop-{i}"] for i in range(3)]
    args.append(["--source", RELAY_TOPICS[3], "--group", "bench-fanout-notification"])
    args.append([*(a for t in RELAY_TOPICS for a in ("--source", t)), "--group", "bench-fanout-audit"])
    procs = _start_relays(bootstrap, args, work / "logs")
    sampler = ResourceSampler({f"relay-{i}": p.pid for i, p in enumerate(procs)})
    sampler.start()
    try:
        results = await run_schedule(bootstrap, RELAY_TOPICS[0], RELAY_TOPICS[3], steps, "BENCH-B")
        cpu = sampler.cpu()
    finally:
        sampler.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    applications = sum(n for _, n in steps) + 40
    return {"steps": results, "hops": 3, "fan_out_readers": 2, "hop_value_sizes": hop_sizes,
            "cpu_s_per_1000_all_hops": round(sum(cpu.values()) * 1000 / applications, 3)}


def plot(report: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, style in (("pipeline", "-"), ("baseline", "--")):
        rows = [s for s in report[name]["steps"] if s["offered_rate"] and s.get("decided")]
        rates = [s["offered_rate"] for s in rows]
        for p, marker in (("p50", "o"), ("p95", "s"), ("p99", "^")):
            ax.plot(rates, [s["latency_ms"][p] for s in rows], style, marker=marker, label=f"{name} {p}")
    ax.set_xlabel("offered rate (applications/s)")
    ax.set_ylabel("submit-to-decision latency (ms)")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.axhline(250, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=8)
    ax.set_title("Latency against offered rate")
    fig.tight_layout()
    fig.savefig(RESULTS / "pipeline_latency.png", dpi=110)
    files.append("pipeline_latency.png")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, style in (("pipeline", "-o"), ("baseline", "--s")):
        rows = [s for s in report[name]["steps"] if s["offered_rate"]]
        ax.plot([s["offered_rate"] for s in rows], [s.get("throughput_per_s", 0) for s in rows], style, label=name)
    top = max(s["offered_rate"] for s in report["pipeline"]["steps"] if s["offered_rate"])
    ax.plot([0, top], [0, top], ":", color="grey", label="offered = achieved")
    ax.set_xlabel("offered rate (applications/s)")
    ax.set_ylabel("decisions/s")
    ax.legend(fontsize=8)
    ax.set_title("Throughput against offered rate")
    fig.tight_layout()
    fig.savefig(RESULTS / "pipeline_throughput.png", dpi=110)
    files.append("pipeline_throughput.png")
    plt.close("all")
    return files


def _row(name: str, s: dict[str, Any]) -> str:
    lat = s.get("latency_ms", {})
    rate = s["offered_rate"] or "max"
    return (f"| {name} | {rate} | {s.get('achieved_submit_rate')} | {s['decided']}/{s['submitted']} | "
            f"{s.get('throughput_per_s')} | {lat.get('p50')} | {lat.get('p95')} | {lat.get('p99')} |")


def markdown(report: dict[str, Any]) -> str:
    p, b = report["pipeline"], report["baseline"]
    lines = [
        "# Pipeline benchmark", "",
        f"{report['started_at']} · {report['machine']} · {report['duration_s']} s wall · "
        f"single-node Kafka 3.9, {PARTITIONS} partitions, acks=all · services on SQLite, INFO logs.", "",
        "Auto-decided mix (70% no-licence-required, 30% denied for a military end use). Latency = "
        "decision record timestamp - submit time (ms). Throughput = decisions / (last decision - first submit).", "",
        "| chain | offered/s | sent/s | decided | decisions/s | p50 | p95 | p99 |",
        "|---|---|---|---|---|---|---|---|",
        *[_row("pipeline", s) for s in p["steps"]],
        *[_row("baseline (no-op relay)", s) for s in b["steps"]],
        _row("pipeline, 2 screening", p["scaling"]["screening_2"]), "",
        "## Against the targets", "",
        f"- flat-out pipeline / baseline throughput: **{report['ratio_flat_out']}** (target >= 0.5)",
        f"- flat-out pipeline throughput: **{report['flat_out_throughput']} decisions/s** (target >= 1000)",
        f"- p99 at the offered rate nearest half the flat-out throughput: {report['p99_at_half']} (target <= 250 ms)",
        f"- screening x2 / x1 flat-out throughput: {report['scaling_ratio']}", "",
        "## Resource use per 1,000 applications (fixed-rate steps)", "",
        "| service | CPU s / 1,000 | peak RSS MB |", "|---|---|---|",
        *[f"| {n} | {r['cpu_s_per_1000']} | {r['peak_rss_mb']} |" for n, r in p["resources"].items()],
        f"| no-op relay, all 5 processes | {b['cpu_s_per_1000_all_hops']} | - |", "",
        f"All five services together: **{report['cpu_s_per_1000_total']} CPU s per 1,000 applications**, so "
        f"{report['cores']} cores bound the pipeline at about **{report['cpu_bound_per_s']} applications/s** "
        "even with nothing else running (the broker and load generator need CPU too).", "",
        f"Message sizes (mean bytes): {p['message_sizes']}. Relay hops re-emit values of these sizes.", "",
        "![latency](pipeline_latency.png)", "", "![throughput](pipeline_throughput.png)", "",
    ]
    return "\n".join(lines)


def summary_md(report: dict[str, Any], pipeline_md: str) -> str:
    others = sorted(f.name for f in RESULTS.glob("*.md") if f.name not in ("SUMMARY.md", "pipeline.md"))
    notes = ("How to read these numbers, what the profiles showed, what was optimised and what remains: "
             "[../README.md](../README.md).\n")
    return (pipeline_md + "\n" + notes + "\n## Other reports in this folder\n\n"
            + "\n".join(f"- [{o}]({o})" for o in others) + "\n")


def headline(report: dict[str, Any]) -> None:
    p_steps, b_steps = report["pipeline"]["steps"], report["baseline"]["steps"]
    flat_p, flat_b = p_steps[-1].get("throughput_per_s") or 0, b_steps[-1].get("throughput_per_s") or 0
    report["flat_out_throughput"] = flat_p
    report["ratio_flat_out"] = round(flat_p / flat_b, 3) if flat_b else None
    fixed = [s for s in p_steps if s["offered_rate"] and s.get("latency_ms")]
    if fixed:
        near = min(fixed, key=lambda s: abs(s["offered_rate"] - flat_p / 2))
        report["p99_at_half"] = f"{near['latency_ms']['p99']} ms at {near['offered_rate']}/s"
    else:
        report["p99_at_half"] = None
    total_cpu = sum(r["cpu_s_per_1000"] for r in report["pipeline"]["resources"].values())
    report["cores"] = psutil.cpu_count() or 1
    report["cpu_s_per_1000_total"] = round(total_cpu, 1)
    report["cpu_bound_per_s"] = round(report["cores"] * 1000 / total_cpu, 1) if total_cpu else None
    two = report["pipeline"]["scaling"]["screening_2"].get("throughput_per_s") or 0
    report["scaling_ratio"] = round(two / flat_p, 3) if flat_p else None


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    rates = [float(r) for r in args.rates.split(",")]
    steps: Steps = [(r, max(20, int(r * args.duration))) for r in rates] + [(None, args.flat_out)]
    runner = load_runner()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="lanthanide-bench-") as tmp:
        work = Path(tmp)
        cluster = runner.KafkaCluster(nodes=1, num_partitions=PARTITIONS, data_dir=work / "kafka")
        cluster.start()
        try:
            bootstrap = cluster.bootstrap_servers
            log(f"broker up at {bootstrap}")
            await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap, partitions=PARTITIONS))
            pipeline = await run_pipeline(bootstrap, steps, args.flat_out, work / "pipeline", args.profile)
            log("baseline: no-op relay chain")
            baseline = await run_baseline(bootstrap, steps, pipeline["message_sizes"], work / "baseline")
        finally:
            if args.keep_logs:
                for log_file in work.glob("*/logs/*.log"):
                    dest = RESULTS / "logs" / log_file.parent.parent.name
                    dest.mkdir(parents=True, exist_ok=True)
                    (dest / log_file.name).write_bytes(log_file.read_bytes())
            cluster.stop()
    return {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, Python {platform.python_version()}",
        "steps": [{"offered_rate": r, "applications": n} for r, n in steps],
        "pipeline": pipeline, "baseline": baseline,
    }


def main() -> None:
    """Run everything and write the reports."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="25,50,100,250,500,1000", help="fixed offered rates, per second")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of load per fixed-rate step")
    parser.add_argument("--flat-out", type=int, default=1500, help="applications in the flat-out step")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (rates 50,100; 2 s each)")
    parser.add_argument("--name", default="pipeline", help="report name under bench/results/")
    parser.add_argument("--profile", action="store_true",
                        help="run the services under pyinstrument; reports in bench/results/profiles/")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the reports and plots from bench/results/<name>.json")
    parser.add_argument("--keep-logs", action="store_true", help="copy service logs to bench/results/logs/")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.duration, args.flat_out = "50,100", 2.0, 300
        args.name = args.name if args.name != "pipeline" else "pipeline-quick"
    os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # the benchmark owns its broker
    if args.render_only:
        report = json.loads((RESULTS / f"{args.name}.json").read_text())
    else:
        report = asyncio.run(main_async(args))
    headline(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    report["plots"] = plot(report)
    md = markdown(report)
    (RESULTS / f"{args.name}.md").write_text(md)
    (RESULTS / "SUMMARY.md").write_text(summary_md(report, md))
    log(f"wrote {RESULTS / (args.name + '.json')}, {args.name}.md, SUMMARY.md")
    print(md)


if __name__ == "__main__":
    main()
