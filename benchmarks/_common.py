"""Shared benchmark plumbing: thread counts, timing, machine information, result records.

Import this module FIRST in every benchmark script, before numpy, scipy, numba or rmtchain:
importing it reads ``--threads N`` from ``sys.argv`` and sets OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS, MKL_NUM_THREADS and NUMBA_NUM_THREADS, which BLAS and Numba read only
once, when they load. Without ``--threads`` the environment is left as it is (and reported).

Every script ends by printing one line ``RESULT {json}`` that ``run_all.py`` collects.
"""

from __future__ import annotations

import os
import sys

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS")


def _threads_from_argv(argv):
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return None


def _set_threads():
    value = _threads_from_argv(sys.argv[1:])
    if value is None:
        return None
    n = int(value)
    if n < 1:
        raise SystemExit(f"--threads must be >= 1, got {n}")
    loaded = [m for m in ("numpy", "scipy", "numba") if m in sys.modules]
    if loaded:
        raise RuntimeError(f"benchmarks/_common.py must be imported before {loaded}: "
                           "thread counts are read when BLAS and Numba load")
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    return n


THREADS = _set_threads()
# rmtchain's progress bars would interleave with the figures (and cost a little): off unless
# the caller asks for them (tqdm >= 4.66 reads TQDM_* defaults from the environment).
os.environ.setdefault("TQDM_DISABLE", "1")

# Everything below may import numpy: the thread variables are set.
import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:          # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def parser(description):
    """An ArgumentParser with the flags every benchmark shares (--threads, --quick, --repeats)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/OpenMP/Numba threads, set before numpy and numba load "
                        "(default: leave the environment as it is)")
    p.add_argument("--quick", action="store_true",
                   help="reduced sizes for a smoke run (the numbers are not the benchmark)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per measurement (warm-up call excluded)")
    p.add_argument("--seed", type=int, default=0)
    return p


# --------------------------------------------------------------------------- timing

def measure(fn, *, repeats=5, warmup=1, number=None, min_time=0.2, settle=0.5):
    """Time ``fn()``: sleep ``settle`` s, ``warmup`` untimed calls, then ``repeats`` timings.

    Each timing runs ``fn`` ``number`` times in a row and is divided by ``number``; with
    ``number=None`` it is chosen (as ``timeit.autorange`` does) so one timing lasts at least
    ``min_time`` seconds, which keeps fast calls above timer resolution. The warm-up keeps
    Numba compilation (or loading from its cache), thread-pool start-up and first-touch page
    faults out of the figures. The initial sleep lets idle BLAS worker threads park:
    numpy and scipy (which Numba calls) each load their own OpenBLAS, and with 2+ threads
    the workers of one spin for ~0.1 s after a call, competing with the other's.

    Returns
    -------
    dict
        ``best`` and ``median`` seconds per call, ``times`` (every timing), ``number``.
    """
    if settle:
        time.sleep(settle)
    for _ in range(warmup):
        fn()
    if number is None:
        number = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            dt = time.perf_counter() - t0
            if dt >= min_time or number >= 1 << 20:
                break
            number *= 2 if dt <= 0 else max(2, min(10, int(math.ceil(min_time / dt))))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return {"best": min(times), "median": statistics.median(times), "times": times,
            "number": number}


def fmt_time(seconds):
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def show(label, m):
    """One line: best and median of a ``measure`` record."""
    print(f"  {label:<46s} best {fmt_time(m['best']):>10s}   median {fmt_time(m['median']):>10s}"
          f"   ({len(m['times'])} x {m['number']})", flush=True)


# --------------------------------------------------------------------------- machine

def _loaded_native_libs():
    pat = re.compile(r"(openblas|mkl|blis|libgomp|libiomp|libomp|tbb)", re.I)
    libs = set()
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.split()[-1]
                if pat.search(os.path.basename(path)):
                    libs.add(os.path.basename(path))
    except OSError:
        pass
    return sorted(libs)


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10)
        rev = out.stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        return rev + ("+dirty" if dirty.strip() else "") if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info():
    """A dict describing the machine, library versions and the effective thread counts."""
    import numba
    import numpy as np
    import scipy
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, which Numba's np.dot/qr call)

    try:
        import rmtchain
        version = getattr(rmtchain, "__version__", "?")
    except ImportError:
        version = "not importable"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "rmtchain": version,
        "git": _git_revision(),
        "threads_flag": THREADS,
        "env": {v: os.environ.get(v) for v in _THREAD_VARS},
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": numba.config.THREADING_LAYER,
        "native_libs": _loaded_native_libs(),
        "loadavg_1min": round(load[0], 2),
    }


def print_machine(info=None):
    info = info or machine_info()
    print(f"machine: {info['cpu']} ({info['logical_cpus']} logical CPUs), "
          f"load average {info['loadavg_1min']}")
    print(f"python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
          f"numba {info['numba']}, rmtchain {info['rmtchain']} (git {info['git']})")
    print(f"threads: --threads {info['threads_flag']}, numba {info['numba_threads']} "
          f"(layer {info['numba_threading_layer']}), env {info['env']}")
    print(f"native libs: {', '.join(info['native_libs']) or 'none found'}", flush=True)
    return info


def gemm_rates(n=512, repeats=5):
    """GFLOP/s of an n x n x n double GEMM through numpy (``@``, numpy's BLAS) and through
    ``scipy.linalg.blas.dgemm`` (scipy's BLAS, which Numba's ``np.dot`` calls)."""
    import numpy as np
    from scipy.linalg import blas

    rng = np.random.default_rng(12345)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, n))
    af, bf = np.asfortranarray(a), np.asfortranarray(b)
    flops = 2.0 * n ** 3
    m_np = measure(lambda: a @ b, repeats=repeats)
    m_sp = measure(lambda: blas.dgemm(1.0, af, bf), repeats=repeats)
    return {"numpy_gflops": flops / m_np["best"] / 1e9,
            "scipy_gflops": flops / m_sp["best"] / 1e9,
            "numpy_gemm": m_np, "scipy_gemm": m_sp}


# --------------------------------------------------------------------------- results

class Report:
    """Collects the headline metrics of one benchmark and prints them (and a RESULT line)."""

    def __init__(self, bench, title, params):
        self.bench = bench
        self.title = title
        self.params = params
        self.metrics = []

    def add(self, name, value, unit="", target=None, note=""):
        """``target`` is a string like ">= 0.8" or "<= 1.5" (or None for information)."""
        self.metrics.append({"name": name, "value": value, "unit": unit, "target": target,
                             "note": note})

    def finish(self, info):
        print(f"\n== {self.bench}: {self.title}")
        for m in self.metrics:
            verdict = check_target(m["value"], m["target"])
            tgt = f"target {m['target']}" if m["target"] else ""
            print(f"  {m['name']:<52s} {fmt_value(m['value'], m['unit']):>14s}  "
                  f"{tgt:<14s} {verdict}{('  ' + m['note']) if m['note'] else ''}")
        record = {"bench": self.bench, "title": self.title, "params": self.params,
                  "metrics": self.metrics, "threads": info["threads_flag"],
                  "numba_threads": info["numba_threads"], "machine": info}
        print("RESULT " + json.dumps(record, default=float), flush=True)
        return record


def fmt_value(value, unit=""):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if unit == "s":
        return fmt_time(value)
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "x":
        return f"{value:.3g}x"
    if unit:
        return f"{value:.4g} {unit}"
    return f"{value:.4g}"


def check_target(value, target):
    """'PASS' / 'MISS' for a target like '>= 0.8', '' when there is no target."""
    if not target or value is None:
        return ""
    op, _, num = target.strip().partition(" ")
    bound = float(num)
    ok = value >= bound if op == ">=" else value <= bound if op == "<=" else None
    return "" if ok is None else ("PASS" if ok else "MISS")
