"""Seconds spent per stage of a job, accumulated into a dict the caller owns (or nowhere).

Segmentation reports where its time goes (read, preprocess, network, post-process, write,
plots) so that speed claims can be checked on the user's own machine and files.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(timings: dict[str, float] | None, stage: str) -> Iterator[None]:
    """Add the seconds spent inside the block to ``timings[stage]``; no-op when ``timings`` is None."""
    if timings is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0
