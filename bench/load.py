"""Figure ``--load``: the load test's driver, run for its figures (``bash bench/run --load``).

Usage: ``python bench/load.py --work DIR [--seconds 120]``

The driver is the test suite's own (``tests/reliability/_load.py``, run by
``tests/reliability/test_load.py``): 64 uploaders through the remote SDK and 100 slow
downloaders against one ``satchel serve`` (embedded default, loopback), the server killed
with SIGKILL and restarted three times; then every acknowledged artifact downloaded and
verified and ``fsck --read-data`` on the store. It has no peer: MLflow has no counterpart
of an acknowledged save that survives a kill to compare with.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _util import BENCH_DIR, emit

sys.path.insert(0, str(BENCH_DIR.parent / "tests" / "reliability"))

from _load import LoadConfig, describe, run_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", required=True)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    figures = run_load(LoadConfig(work=Path(args.work), seconds=args.seconds))
    print(describe(figures), file=sys.stderr, flush=True)
    emit(figures)


if __name__ == "__main__":
    main()
