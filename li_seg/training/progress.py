"""The training progress line: step, loss, learning rate, images/s and ETA over a sliding window."""

from __future__ import annotations

import time


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    """Measures throughput between calls of `line` (so compilation and evaluation pauses are not averaged in)."""

    def __init__(self, total_steps: int, global_batch_size: int, start_step: int, clock=time.perf_counter):
        self.total_steps = total_steps
        self.global_batch_size = global_batch_size
        self._clock = clock
        self._mark_step = start_step
        self._mark_time = clock()
        self.images_per_second = 0.0

    def restart(self, step: int) -> None:
        """Starts a new measuring window (after an evaluation or checkpoint pause)."""
        self._mark_step, self._mark_time = step, self._clock()

    def elapsed(self) -> float:
        """Seconds since the current measuring window started."""
        return self._clock() - self._mark_time

    def line(self, step: int, loss: float, learning_rate: float) -> str:
        now = self._clock()
        elapsed = max(now - self._mark_time, 1e-9)
        steps = step - self._mark_step
        if steps > 0:
            self.images_per_second = steps * self.global_batch_size / elapsed
        steps_per_second = self.images_per_second / self.global_batch_size
        eta = (self.total_steps - step) / steps_per_second if steps_per_second > 0 else float("nan")
        self._mark_step, self._mark_time = step, now
        width = len(str(self.total_steps))
        eta_text = format_duration(eta) if eta == eta else "?"
        return (
            f"step {step:>{width}}/{self.total_steps} | loss {loss:.4f} | lr {learning_rate:.3g} | "
            f"{self.images_per_second:.1f} img/s | ETA {eta_text}"
        )
