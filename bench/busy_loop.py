"""A busy loop that takes up to a share of one core, to see how much margin a benchmark has when the machine has
less to give (docs/performance.md, "A slow day, imitated"). Busy for `share` of every 100 ms of wall time, pinned to
one core; a busy phase ends by the clock, so when it is preempted it takes less than its share, never more.

Run: python3 bench/busy_loop.py SHARE CORE      (e.g. 0.3 0 & 0.3 1 &: up to 0.6 of a 2-core machine)
"""

from __future__ import annotations

import os
import sys
import time

PERIOD_S = 0.1


def main() -> None:
    share, core = float(sys.argv[1]), int(sys.argv[2])
    os.sched_setaffinity(0, {core})
    while True:
        began = time.perf_counter()
        while time.perf_counter() - began < share * PERIOD_S:
            pass
        time.sleep(PERIOD_S * (1.0 - share))


if __name__ == "__main__":
    main()
