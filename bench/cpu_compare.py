"""CPU per 1,000 applications of each service's in-process replay: a base revision against this checkout.

    uv run python bench/cpu_compare.py [--base e1e873e] [--rounds 3] [--repeat 1] [--report-only]
                                       [--services screening,review,audit,notification] [--threshold 1.10]

`make bench-cpu-compare` runs it with BASE ?= e1e873e, main just before the issue-11 refactor
(one house: skeleton, consumer shape, review's unit of work, Kafka edge, workspace members) was
merged, with the features of issues 13-15 and 18 that landed beside it, so the figures say whether
that refactor cost CPU. Against 820f5a8, before both, the ratios also carry those features' cost
(notification's delivery worker, review's queue projection): bench/results/compare_820f5a8/.
The machine is shared and noisy, so absolute figures move from run to run;
only the ratios of one run count, and the two revisions are measured alternately in that run:

1. the corpus (bench/results/corpus.jsonl, made by bench/capture.py as `make bench-cpu` does
   when it is missing) is the one input of both revisions;
2. the base revision is checked out as a detached git worktree in .cache/bench-base/<rev>
   (git-ignored, reused when present) with its own venv (`uv sync --frozen` there);
3. each round runs every service's own bench/cpu_<service>.py of each revision once, base first
   in even rounds and head first in odd ones. A revision's scripts run from a copy of its bench/
   folder in a temporary directory whose results/ holds a link to the shared corpus and copies
   of that revision's committed cpu_*.json (the scripts read their recorded baselines there), so
   neither revision's runs write to bench/results/cpu_<service>.json of this checkout, and each
   revision runs its own script with its own command line;
4. per service the median over the rounds of the script's headline figure (`cpu_s_per_1000`,
   the best of `--repeat` replays inside one script run) is compared, head / base. Secondary
   figures (screening without the search memo, audit in small batches, notification as
   captured) are reported with their ratios but do not gate.

Writes bench/results/cpu_compare.json and cpu_compare.md; exits 1 if a headline ratio is over
--threshold (1.10), unless --report-only. Output checks (screening's output checksum, audit's
ledger digest, review's and notification's counts) are compared between the revisions too, for
information: the same corpus should give the same outputs when behaviour is unchanged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CORPUS = RESULTS / "corpus.jsonl"
DEFAULT_BASE = "e1e873e"
SERVICES = ("screening", "review", "audit", "notification")

# Per service: the headline figure (gated) and secondary figures (reported), as key paths into
# the script's cpu_<service>.json.
FIGURES: dict[str, dict[str, tuple[str, ...]]] = {
    "screening": {"replay": ("cpu_s_per_1000",),
                  "without search memo": ("cpu_s_per_1000_without_search_memo",)},
    "review": {"replay": ("cpu_s_per_1000",)},
    "audit": {"replay": ("cpu_s_per_1000",), "small batches": ("small_batches", "cpu_s_per_1000")},
    "notification": {"replay": ("cpu_s_per_1000",), "as captured": ("as_captured", "cpu_s_per_1000")},
}
HEADLINE = "replay"
# What each replay produced, to be the same for both revisions on the same corpus (not gated).
OUTPUT_CHECKS: dict[str, tuple[tuple[str, ...], ...]] = {
    "screening": (("checksum",), ("outputs",), ("routes",)),
    "review": (("decisions",), ("outcomes",), ("published",), ("redelivered_published",)),
    "audit": (("appended",), ("ledger_digest",), ("head_hash",), ("small_batches", "ledger_digest")),
    "notification": (("webhooks", "outcomes"), ("webhooks", "deliveries_logged"), ("as_captured", "outcomes")),
}


def log(msg: str) -> None:
    print(f"[cpu-compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def dig(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def clean_env() -> dict[str, str]:
    """The environment for the other project's uv and Python: not this checkout's venv."""
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def ensure_corpus(corpus: Path) -> None:
    if corpus.exists():
        return
    log(f"{corpus} is missing: capturing it with bench/capture.py (starts a broker and the pipeline)")
    subprocess.run([sys.executable, str(HERE / "capture.py"), "--out", str(corpus)], cwd=ROOT, check=True)


def bench_corpus(corpus: Path) -> tuple[Path, int]:
    """The corpus both revisions replay: `corpus` without the records of capture.py's warm-up
    applications (external reference `...-WARM-...`, followed by correlation id through every
    topic), written to corpus_compare.jsonl beside it when there are any. cpu_review.py of both
    revisions checks for exactly the benchmark mix of 1,000 applications (300 denied, 700 without
    a licence), which a fresh capture (1,000 + 20 warm-up) does not pass. (The corpus, the number
    of warm-up applications dropped.)"""
    from corpus import without_warmup

    kept, dropped = without_warmup(corpus.read_bytes().splitlines(keepends=True))
    if not dropped:
        return corpus, 0
    out = corpus.with_name("corpus_compare.jsonl")
    if not out.exists() or out.read_bytes() != b"".join(kept):
        out.write_bytes(b"".join(kept))
    return out, dropped


def ensure_base(rev: str, uv: list[str]) -> Path:
    """The base revision's worktree under .cache/bench-base/<rev>, with a synced venv."""
    tree = ROOT / ".cache" / "bench-base" / rev
    if not (tree / ".git").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        log(f"checking out {rev} into {tree.relative_to(ROOT)}")
        git("worktree", "add", "--detach", str(tree), rev)
    elif git("rev-parse", "HEAD", cwd=tree) != git("rev-parse", f"{rev}^{{commit}}"):
        raise SystemExit(f"{tree} is not at {rev}: remove it (git worktree remove --force {tree})")
    if not (tree / ".venv" / "bin" / "python").exists() or not (tree / ".venv" / ".bench-synced").exists():
        log(f"syncing the venv of {tree.relative_to(ROOT)} ({' '.join(uv)} sync --frozen)")
        subprocess.run([*uv, "sync", "--frozen"], cwd=tree, env=clean_env(), check=True)
        (tree / ".venv" / ".bench-synced").write_text(rev + "\n")
    return tree


class Revision:
    """One revision's tree, Python, and a private copy of its bench/ folder that runs on the shared corpus."""

    def __init__(self, label: str, tree: Path, python: Path, corpus: Path, scratch: Path) -> None:
        self.label = label
        self.tree = tree
        self.python = python
        self.commit = git("rev-parse", "HEAD", cwd=tree)
        self.bench = scratch / label / "bench"
        shutil.copytree(tree / "bench", self.bench, ignore=shutil.ignore_patterns("results", "__pycache__"))
        results = self.bench / "results"
        results.mkdir()
        (results / "corpus.jsonl").symlink_to(corpus.resolve())
        # The recorded baselines the scripts read (cpu_<service>.json, screening's baseline files).
        for f in (tree / "bench" / "results").glob("cpu_*"):
            if f.is_file() and f.name != "cpu_compare.json":
                shutil.copy2(f, results / f.name)
        self.pristine = {f.name: f.read_bytes() for f in results.glob("cpu_*")}

    def where(self) -> dict[str, str]:
        """Which source tree the revision's Python imports the packages from (a check of the venv)."""
        # lanthanide is a namespace package (no __file__) since the workspace split: ask a module
        code = ("import json, lanthanide.serde as lanthanide, lanthanide_screening, lanthanide_review, "
                "lanthanide_audit, lanthanide_notification as n; print(json.dumps({m.__name__: m.__file__ for m in "
                "(lanthanide, lanthanide_screening, lanthanide_review, lanthanide_audit, n)}))")
        out = subprocess.run([str(self.python), "-c", code], cwd=self.tree, env=clean_env(), check=True,
                             capture_output=True, text=True).stdout
        files: dict[str, str] = json.loads(out)
        for name, path in files.items():
            if not Path(path).resolve().is_relative_to(self.tree.resolve()):
                raise SystemExit(f"{self.label}: {name} is imported from {path}, outside {self.tree}")
        return {k: str(Path(v).resolve().relative_to(self.tree.resolve())) for k, v in files.items()}

    def run(self, service: str, repeat: int) -> dict[str, Any]:
        """One run of this revision's bench/cpu_<service>.py; its figures."""
        results = self.bench / "results"
        out = results / f"cpu_{service}.json"
        # Every run starts from the revision's committed figures (the scripts keep their baselines).
        for name, data in self.pristine.items():
            (results / name).write_bytes(data)
        if f"cpu_{service}.json" not in self.pristine:
            out.unlink(missing_ok=True)
        cmd = [str(self.python), str(self.bench / f"cpu_{service}.py"), "--repeat", str(repeat)]
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=self.tree, env=clean_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{self.label} cpu_{service}.py failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        figures: dict[str, Any] = json.loads(out.read_text())
        figures["_wall_s"] = round(time.monotonic() - started, 1)
        return figures


def commits_since(base: str, head: str, service: str) -> list[str]:
    """The commits between the revisions that touch what the service's replay runs: its source,
    the shared library, its bench script (other work than the refactor shows up in a ratio too)."""
    paths = [f"services/{service}/src", "shared", f"bench/cpu_{service}.py", "bench/corpus.py"]
    out = git("log", "--no-merges", "--format=%h %s", f"{base}..{head}", "--", *paths)
    return [line[:160] for line in out.splitlines()]


def ratio(head: float | None, base: float | None) -> float | None:
    return round(head / base, 3) if head is not None and base else None


def summarise(samples: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for service, by_rev in samples.items():
        figures: dict[str, Any] = {}
        for name, path in FIGURES[service].items():
            per_rev: dict[str, Any] = {}
            for label in ("base", "head"):
                values = [v for v in (dig(s, path) for s in by_rev[label]) if isinstance(v, int | float)]
                per_rev[label] = {"median": round(statistics.median(values), 3) if values else None,
                                  "runs": values}
            figures[name] = {**per_rev, "ratio": ratio(per_rev["head"]["median"], per_rev["base"]["median"]),
                             "gated": name == HEADLINE}
        checks = {}
        for path in OUTPUT_CHECKS[service]:
            base_values = [dig(s, path) for s in by_rev["base"]]
            head_values = [dig(s, path) for s in by_rev["head"]]
            checks[".".join(path)] = {
                "base": base_values[0] if len({json.dumps(v, sort_keys=True) for v in base_values}) == 1
                else base_values,
                "head": head_values[0] if len({json.dumps(v, sort_keys=True) for v in head_values}) == 1
                else head_values,
                "equal": base_values == head_values,
            }
        out[service] = {"figures": figures, "outputs": checks}
    return out


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def render(report: dict[str, Any]) -> str:
    th = report["threshold"]
    base, head, corpus = report["base"], report["head"], report["corpus"]
    dirty = " + uncommitted changes" if head["dirty"] else ""
    dropped = corpus["warm_up_applications_dropped"]
    source = f": `{corpus['captured']}` without its {dropped} warm-up applications" if dropped else ""
    lines = [
        "# CPU per 1,000 applications: base revision vs this checkout",
        "",
        f"Base `{base['commit'][:12]}` ({base['ref']}: {base['subject']}) against head `{head['commit'][:12]}` "
        f"({head['subject']}){dirty}, {report['date']}.",
        "",
        f"{report['rounds']} rounds, base and head alternately (the order swapped every round), each run one "
        f"`bench/cpu_<service>.py` of that revision with `--repeat {report['repeat']}` on the same corpus "
        f"(`{corpus['path']}`, {corpus['records']} records, sha256 `{corpus['sha256'][:16]}`{source}). "
        f"Load average (1, 5, 15 min) before {report['loadavg_before']}, after {report['loadavg_after']}; "
        f"{report['wall_s']:.0f} s in all.",
        "",
        "| service | figure | base, median CPU s / 1,000 | head, median | head / base | runs base | runs head |",
        "|---|---|---|---|---|---|---|",
    ]
    for service, data in report["services"].items():
        for name, f in data["figures"].items():
            r = f["ratio"]
            mark = "" if not f["gated"] else (" **over**" if r is not None and r > th else "")
            label = name if f["gated"] else f"{name} (not gated)"
            lines.append(
                f"| {service} | {label} | {fmt(f['base']['median'])} | {fmt(f['head']['median'])} | "
                f"{fmt(r)}{mark} | {', '.join(fmt(v) for v in f['base']['runs'])} | "
                f"{', '.join(fmt(v) for v in f['head']['runs'])} |")
    lines += ["", f"**Verdict: {report['verdict']}.** The gate: every service's replay ratio (head / base of "
              f"the medians) at most {th:.2f}; a ratio over it makes `make bench-cpu-compare` fail"
              f"{' (this run was --report-only)' if report['report_only'] else ''}.", ""]
    lines += ["Same outputs from the same corpus (not gated):", ""]
    for service, data in report["services"].items():
        diffs = [k for k, v in data["outputs"].items() if not v["equal"]]
        lines.append(f"- {service}: " + ("equal (" + ", ".join(data["outputs"]) + ")" if not diffs
                                         else "differ in " + ", ".join(diffs)))
    lines += ["", "Commits between the revisions that touch what each replay runs (the service's source, "
              "shared/, its bench script): a ratio is the cost of all of them, the refactor's and the rest.",
              ""]
    for service, data in report["services"].items():
        commits = data.get("commits_since_base", [])
        lines.append(f"- {service}: {len(commits)}" + (f" (newest first: {', '.join(c.split()[0] for c in commits)})"
                                                       if commits else ""))
    lines += ["", "How to read it: the machine is shared, so the absolute figures move with the load; the "
              "ratios are the figure, since both revisions ran interleaved in the same minutes. A ratio "
              "within a few per cent of 1 is noise; the runs columns show the spread.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"base revision (default {DEFAULT_BASE})")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--repeat", type=int, default=1, help="replays inside each script run (its --repeat)")
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--threshold", type=float, default=1.10)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where cpu_compare.json and .md go")
    parser.add_argument("--uv", default=os.environ.get("UV") or ("uv" if shutil.which("uv") else "python3 -m uv"),
                        help="how to run uv (the Makefile's UV)")
    parser.add_argument("--report-only", action="store_true", help="exit 0 whatever the ratios")
    parser.add_argument("--render-only", action="store_true", help="re-render cpu_compare.md from the JSON")
    args = parser.parse_args()
    if args.render_only:
        report = json.loads((args.out / "cpu_compare.json").read_text())
        for service, data in report["services"].items():
            data.setdefault("commits_since_base",
                            commits_since(report["base"]["commit"], report["head"]["commit"], service))
        (args.out / "cpu_compare.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "cpu_compare.md").write_text(render(report))
        print(render(report))
        return
    services = [s.strip() for s in args.services.split(",") if s.strip()]
    if unknown := set(services) - set(SERVICES):
        raise SystemExit(f"unknown services: {sorted(unknown)}")

    captured = args.corpus.resolve()
    ensure_corpus(captured)
    corpus, warm = bench_corpus(captured)
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()
    base_commit = git("rev-parse", f"{args.base}^{{commit}}")
    base_tree = ensure_base(base_commit[:12], shlex.split(args.uv))

    started = time.monotonic()
    before = loadavg()
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {s: {"base": [], "head": []} for s in services}
    with tempfile.TemporaryDirectory(prefix="cpu-compare-") as tmp:
        revs = {
            "base": Revision("base", base_tree, base_tree / ".venv" / "bin" / "python", corpus, Path(tmp)),
            "head": Revision("head", ROOT, Path(sys.executable), corpus, Path(tmp)),
        }
        imports = {label: rev.where() for label, rev in revs.items()}
        for rnd in range(args.rounds):
            order = ("base", "head") if rnd % 2 == 0 else ("head", "base")
            for service in services:
                for label in order:
                    figures = revs[label].run(service, args.repeat)
                    figures["_loadavg_after"] = loadavg()
                    samples[service][label].append(figures)
                    log(f"round {rnd + 1}/{args.rounds} {service:12} {label}: "
                        f"{figures.get('cpu_s_per_1000')} CPU s / 1,000 ({figures['_wall_s']} s wall, "
                        f"load {figures['_loadavg_after'][0]})")
    after = loadavg()

    services_report = summarise(samples)
    head_commit = git("rev-parse", "HEAD")
    for service, data in services_report.items():
        data["commits_since_base"] = commits_since(base_commit, head_commit, service)
    over = [s for s, d in services_report.items()
            if (r := d["figures"][HEADLINE]["ratio"]) is not None and r > args.threshold]
    missing = [s for s, d in services_report.items() if d["figures"][HEADLINE]["ratio"] is None]
    if over:
        verdict = f"over {args.threshold:.2f} for {', '.join(over)}"
    elif missing:
        verdict = f"no ratio for {', '.join(missing)}"
    else:
        verdict = f"every ratio at most {args.threshold:.2f}"
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "base": {"ref": args.base, "commit": base_commit, "subject": git("log", "-1", "--format=%s", base_commit),
                 "imports_from": imports["base"]},
        "head": {"commit": head_commit, "subject": git("log", "-1", "--format=%s", head_commit),
                 "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
                 "imports_from": imports["head"]},
        "corpus": {"path": os.path.relpath(corpus, ROOT), "sha256": digest,
                   "records": sum(1 for _ in corpus.open("rb")), "captured": os.path.relpath(captured, ROOT),
                   "warm_up_applications_dropped": warm},
        "rounds": args.rounds,
        "repeat": args.repeat,
        "order": "base first in odd-numbered rounds (1, 3, ...), head first in even-numbered ones",
        "threshold": args.threshold,
        "report_only": args.report_only,
        "loadavg_before": before,
        "loadavg_after": after,
        "wall_s": round(time.monotonic() - started, 1),
        "verdict": verdict,
        "over_threshold": over,
        "services": services_report,
        "samples": {s: {label: [{"cpu_s_per_1000": r.get("cpu_s_per_1000"), "wall_s": r["_wall_s"],
                                 "loadavg_after": r["_loadavg_after"]} for r in runs]
                        for label, runs in by_rev.items()} for s, by_rev in samples.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cpu_compare.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "cpu_compare.md").write_text(render(report))
    print(render(report))
    if (over or missing) and not args.report_only:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
