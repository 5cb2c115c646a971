"""Clean logs for the command-line tools: TensorFlow's start-up chatter that says nothing to a user is left out,
everything else is shown.

`quiet_tensorflow()` runs before anything imports TensorFlow (each entry point calls it first):
- TF_CPP_MIN_LOG_LEVEL (when the user has not set it): 2 (warnings and errors), or 3 on a machine without an
  NVIDIA driver, where the only C++ error TensorFlow's CUDA build prints is "failed call to cuInit" (a CPU user has
  no GPU to initialise; real problems still reach the user as Python exceptions).
- TensorFlow's import prints, before its logging is configured (so no environment variable reaches them), the
  oneDNN notice and "Could not find cuda drivers on your machine": the import runs with standard error captured,
  and every line except those known ones (BENIGN) is written back.
- TensorFlow's INFO lines from Python (its logger, and what its code logs through absl: checkpoint sharding
  timings, collective set-up) are left out; li_seg's own progress lines and every warning stay.
"""

from __future__ import annotations

import logging
import os
import pathlib
import sys
import tempfile

# Start-up lines with nothing for a user to act on (matched as substrings).
BENIGN = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine, GPU will not be used",
    "failed call to cuInit",
)


def _has_nvidia_driver() -> bool:
    return pathlib.Path("/proc/driver/nvidia/version").exists() or pathlib.Path("/dev/nvidia0").exists()


def quiet_tensorflow() -> None:
    """Sets TensorFlow's log level and imports it with its benign start-up lines left out (see the module)."""
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2" if _has_nvidia_driver() else "3"
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines()
            shown = [line for line in lines if not any(benign in line for benign in BENIGN)]
            if shown:
                print("\n".join(shown), file=sys.stderr)
    logging.getLogger("absl").addFilter(_tensorflow_info)
    import tensorflow as tf

    tf.get_logger().setLevel("WARNING")


def _tensorflow_info(record: logging.LogRecord) -> bool:
    """False for INFO lines that TensorFlow's own Python code logs through absl (saver timings)."""
    return record.levelno >= logging.WARNING or f"{os.sep}tensorflow{os.sep}" not in record.pathname
