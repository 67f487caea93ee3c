"""The one timing helper of the benchmarks (TF-free, so a benchmark can
import it before it configures TensorFlow's devices)."""

import statistics
import time


def median_secs(fn, repetitions: int, warmup: int) -> float:
  """Median wall seconds of `fn()` over `repetitions` calls after `warmup`."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repetitions):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)
