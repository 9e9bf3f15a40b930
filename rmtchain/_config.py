"""The only place kernel flags and numerical budgets live.

``FASTMATH`` is off on purpose: the parallel and serial kernels must agree bitwise and
results must not depend on the thread count, which reassociation would break (STYLE.md
allows a fastmath set; we choose none, and the benchmarks show the kernels are bound by
BLAS and the normal draws, not by the flags).
"""

FASTMATH = False

#: Automatic accumulation (theory/sampling.md eq. (S.4)): a block of layers is multiplied
#: plainly and then re-orthogonalised by QR. The block length aims at a spread of
#: log|diag R| of ``REORTH_TARGET``; a block whose spread exceeds ``REORTH_LOG_BUDGET``
#: is replayed with a QR after every layer. The relative error a block adds to a singular
#: value is about ``eps * exp(spread)`` (2.2e-16 * e^8 = 7e-13; measured up to ~20x that over 1000 chains n=16, L=50).
REORTH_TARGET = 6.0
REORTH_LOG_BUDGET = 8.0

#: Draw-buffer size (float64 entries) above which layers are streamed in chunks instead of
#: drawing a whole sample at once (32 MiB).
DRAW_BUFFER = 4_000_000

#: Final graded SVD: a window may span at most this many natural-log units of row scale
#: (exp(-600) is still a normal float64) and overlaps its neighbours by ``GRADED_MARGIN``
#: (exp(-60) coupling is below rounding). theory/sampling.md eq. (S.6).
GRADED_CORE = 400.0
GRADED_MARGIN = 60.0

#: Widths at or below this are sampled by the parallel many-chain kernel.
SMALL_WIDTH = 96
