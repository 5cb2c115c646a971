"""scripts/visualize_smoothing.py: Fig. 5 from the coefficients training logs to TensorBoard."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from li_seg.layers.smoothing import COEFFICIENT_NAMES
from li_seg.training.summaries import Summaries
from scripts import visualize_smoothing


def _log(model_dir, rows):
    """Writes the coefficients as the trainer does (Summaries.scalars of aggregation_coefficients)."""
    summaries = Summaries(model_dir, ("a", "b"), ((0, 0, 0), (1, 1, 1)), 255)
    for step, row in rows:
        summaries.scalars(step, {f"smoothing_coefficients/{name}": v for name, v in zip(COEFFICIENT_NAMES, row)})
    summaries.flush()


def test_reads_the_logged_coefficients_and_plots_them(tmp_path):
    rows = [(0, (0.25, 0.25, 0.25, 0.25)), (50, (0.3, 0.2, 0.1, 0.4)), (100, (0.5, 0.1, 0.1, 0.3))]
    _log(tmp_path, rows)
    steps, coefficients = visualize_smoothing.read_coefficients(tmp_path)
    assert steps.tolist() == [0, 50, 100]
    np.testing.assert_allclose(coefficients["ave"], [0.25, 0.3, 0.5])
    np.testing.assert_allclose(coefficients["none"], [0.25, 0.4, 0.3])
    output = visualize_smoothing.plot(steps, coefficients, tmp_path / "fig5.png")
    assert Image.open(output).size[0] > 400
    negative = {**coefficients, "learned": np.array([0.25, -0.1, -0.2])}  # the code's unconstrained vector
    assert Image.open(visualize_smoothing.plot(steps, negative, tmp_path / "raw.png")).size[0] > 400


def test_a_run_without_coefficients_is_explained(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path / "train")).as_default(step=1):
        tf.summary.scalar("loss/loss", 1.0)
    with pytest.raises(FileNotFoundError, match="--ablation=aggregated"):
        visualize_smoothing.read_coefficients(tmp_path)
