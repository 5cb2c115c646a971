"""The diagnostics hook: layers publish their paper quantities, the collector finds them in nested models with
Keras' public API, Summaries writes whatever is published; and the shared code imports no paper."""

import ast
import pathlib

import keras
import numpy as np

from li_seg.layers.diagnostics import Histogram, collect_diagnostics
from li_seg.training.summaries import Summaries

from tests.tensorboard_helpers import tensorboard_view
from tests.test_training import event_tags

ROOT = pathlib.Path(__file__).resolve().parents[1]


class _Publisher(keras.layers.Layer):
    """A layer of a future paper: a learned scalar it publishes as a scalar and a histogram."""

    def build(self, input_shape):
        self.mu = self.add_weight(name="mu", shape=(3,), initializer=keras.initializers.Constant(0.5))

    def call(self, x):
        return x * keras.ops.mean(self.mu)

    def diagnostics(self):
        values = keras.ops.convert_to_numpy(self.mu)
        return {f"test_mu/{self.name}": Histogram(values), f"test_mu_mean/{self.name}": float(values.mean())}


def _nested_model():
    inner_input = keras.Input((None, None, 2))
    inner = keras.Model(inner_input, _Publisher(name="walk1")(inner_input), name="inner")
    images = keras.Input((None, None, 2))
    return keras.Model(images, _Publisher(name="walk2")(inner(images)))


def test_collector_walks_nested_models():
    published = collect_diagnostics(_nested_model())
    assert set(published) == {"test_mu/walk1", "test_mu_mean/walk1", "test_mu/walk2", "test_mu_mean/walk2"}
    assert published["test_mu_mean/walk2"] == 0.5 and isinstance(published["test_mu/walk1"], Histogram)


def test_summaries_write_whatever_is_published(tmp_path):
    summaries = Summaries(tmp_path, ["a", "b"], np.zeros((2, 3), np.uint8), 255)
    summaries.diagnostics(7, collect_diagnostics(_nested_model()))
    summaries.flush()
    expected = {"test_mu/walk1", "test_mu_mean/walk1", "test_mu/walk2", "test_mu_mean/walk2"}
    assert expected <= event_tags(tmp_path / "train")
    assert tensorboard_view(tmp_path / "train")["test_mu_mean/walk2"] == [(7, 0.5)]


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


PAPER_MODULES = ("li_seg.layers.inhibition", "li_seg.layers.lateral_inhibition", "li_seg.layers.smoothing",
                 "li_seg.layers.feature_pyramid_attention", "li_seg.layers.global_attention_upsample",
                 "li_seg.layers.attention_statistics", "li_seg.layers.pyramid_pooling",
                 "li_seg.layers.squeeze_excitation", "li_seg.layers.deformable", "li_seg.layers.cycle_aspp",
                 "li_seg.layers.deformable_alignment", "li_seg.layers.random_walk", "li_seg.models.pan",
                 "li_seg.layers.importance_map", "li_seg.layers.similarity_embedding", "li_seg.models.cyclenet",
                 "li_seg.models.difnet", "experiments.papers.li_convs", "experiments.papers.smoothing",
                 "experiments.papers.pan", "experiments.papers.cyclenet", "experiments.papers.difnet")
SHARED = ["li_seg/training", "li_seg/evaluation", "li_seg/export", "li_seg/analysis", "scripts/model_table.py",
          "scripts/benchmark.py", "scripts/benchmarking", "experiments/runner.py", "experiments/flags.py"]


def test_shared_code_imports_no_paper():
    """Adding a paper edits none of the trainer, evaluator, exporter, FLOP counter, model table or benchmark: they
    import no paper layer and no paper module (they read what layers publish and what records declare)."""
    for entry in SHARED:
        paths = [ROOT / entry] if entry.endswith(".py") else sorted((ROOT / entry).glob("*.py"))
        for path in paths:
            imported = _imports(path)
            assert not {name for name in imported for paper in PAPER_MODULES if name.startswith(paper)}, path
