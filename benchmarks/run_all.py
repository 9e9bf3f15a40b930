"""Run every benchmark with 1 and 2 threads (each in its own subprocess) and print a
Markdown table of the results, ready to paste into benchmarks/README.md.

    python benchmarks/run_all.py                 # full sizes (several minutes; quiet machine)
    python benchmarks/run_all.py --quick         # smoke run at reduced sizes
    python benchmarks/run_all.py --only a c --thread-counts 1 2 4 --json results.json

The benchmarks' own output goes to stderr as they run; the table goes to stdout.
Thread counts are passed as ``--threads N``, which each script applies before numpy and
numba load (a process cannot change them afterwards, hence one subprocess per count).
"""

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import check_target, fmt_value  # noqa: E402  (imports no numpy)

BENCHMARKS = {
    "a": "bench_chain_512.py",
    "b": "bench_many_small.py",
    "c": "bench_deep_stable.py",
    "d": "bench_haar.py",
    "e": "bench_memory.py",
    "f": "bench_density.py",
    "g": "bench_phase.py",
    "h": "bench_hvp.py",
    "i": "bench_slq.py",
}


def run_one(script, threads, extra):
    cmd = [sys.executable, str(HERE / script), "--threads", str(threads)] + extra
    print(f"\n$ {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=HERE.parent)
    record = None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT "):])
        else:
            sys.stderr.write(line)
            sys.stderr.flush()
    code = proc.wait()
    wall = time.perf_counter() - t0
    if code != 0 or record is None:
        print(f"!! {script} --threads {threads} failed (exit {code})", file=sys.stderr)
        return None
    record["wall_seconds"] = wall
    return record


def md(text):
    """Escape a table cell (metric names may contain '|')."""
    return str(text).replace("|", "\\|")


def cell(metric):
    if metric is None:
        return "—"
    text = fmt_value(metric["value"], metric["unit"])
    verdict = check_target(metric["value"], metric["target"])
    return md(f"{text} {verdict}".strip())


def table(results, counts):
    """Markdown: one row per (benchmark, metric), one column per thread count."""
    lines = ["| bench | metric | target | " + " | ".join(
                 f"{t} thread{'s' if t > 1 else ''}" for t in counts) + " |",
             "|---|---|---|" + "---|" * len(counts)]
    for key in BENCHMARKS:
        recs = {t: results.get((key, t)) for t in counts}
        first = next((r for r in recs.values() if r), None)
        if first is None:
            continue
        names = [m["name"] for m in first["metrics"]]
        for i, name in enumerate(names):
            label = f"({key}) {first['title']}" if i == 0 else ""
            target = next((m["target"] for m in first["metrics"] if m["name"] == name), None)
            cells = []
            for t in counts:
                r = recs[t]
                m = None if r is None else next(
                    (x for x in r["metrics"] if x["name"] == name), None)
                cells.append(cell(m))
            lines.append(f"| {md(label)} | {md(name)} | {target or ''} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(results, args):
    rec = next(iter(results.values()))
    m = rec["machine"]
    cmd = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
    return "\n".join([
        f"Command: `{cmd}` ({datetime.date.today().isoformat()}); "
        f"{'**quick smoke sizes, not the benchmark**' if args.quick else 'full sizes'}.",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs; Python {m['python']}, "
        f"numpy {m['numpy']}, scipy {m['scipy']}, numba {m['numba']}; "
        f"rmtchain {m['rmtchain']} (git {m['git']}); BLAS: "
        f"{', '.join(x for x in m['native_libs'] if 'blas' in x.lower()) or 'unknown'}.",
        "Load average (1 min) at start of each run: " + ", ".join(
            f"{k}/{t}: {r['machine']['loadavg_1min']}"
            for (k, t), r in sorted(results.items())) + ".",
    ])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    p.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=sorted(BENCHMARKS))
    p.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2])
    p.add_argument("--json", type=Path, default=None, help="also write every record here")
    args = p.parse_args(argv)
    extra = ["--quick"] if args.quick else []
    results = {}
    for key in args.only:
        for t in args.thread_counts:
            rec = run_one(BENCHMARKS[key], t, extra)
            if rec is not None:
                results[(key, t)] = rec
    if not results:
        raise SystemExit("every benchmark failed")
    if args.json:
        args.json.write_text(json.dumps([r for _, r in sorted(results.items())], indent=1))
    print()
    print(header(results, args))
    print()
    print(table(results, args.thread_counts))
    failed = [(k, t) for k in args.only for t in args.thread_counts if (k, t) not in results]
    if failed:
        print("\nFailed runs: " + ", ".join(f"({k}) --threads {t}" for k, t in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
