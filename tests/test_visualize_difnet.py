"""scripts/visualize_difnet.py: DifNet's Fig. 2 (score, influence, importance maps), Fig. 3 (rows of P_t) and Fig. 4
(the prediction after each walk) from a model dir of a tiny DifNet-18 on the embedded dataset, the maps checked
against the NumPy reference, and the tool's error messages."""

import keras
import numpy as np
import pytest
from PIL import Image

from experiments.papers import difnet
from li_seg.data import get_dataset_info
from li_seg.models import build_model
from li_seg.models.difnet import analysis_outputs
from scripts import visualize_difnet

from tests import difnet_reference as ref
from tests.model_dir_helpers import write_model_dir
from tests.test_visualize_li import assert_png


def make_model_dir(path, ablation, seed):
    """A model dir as experiments.train leaves it (config.json, checkpoints/ckpt-1) with random walk logits."""
    cfg = difnet.ABLATIONS[ablation]()
    keras.utils.set_random_seed(seed)
    model = build_model(cfg.model, get_dataset_info(cfg.data.dataset).num_classes)
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if weight.path.endswith(("mu_logit", "beta_logit")):
            weight.assign(np.float32(rng.uniform(-2, 2)))
    write_model_dir(path, cfg, model)
    return model


@pytest.fixture(scope="module")
def difnet_run(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("difnet") / "run"
    return model_dir, make_model_dir(model_dir, "difnet_18", seed=1)


def test_figures_of_a_dataset_example(difnet_run, tmp_path, capsys):
    model_dir, model = difnet_run
    paths = visualize_difnet.visualize(model_dir, index=2, output=tmp_path / "out.png")
    assert paths == {f"fig{n}": tmp_path / f"out_fig{n}.png" for n in (2, 3, 4)}
    assert_png(paths["fig2"], min_width=4 * 200, min_height=200)  # image, x, E, M
    assert_png(paths["fig3"], min_width=6 * 200, min_height=3 * 200)  # image + 5 walks; 3 default pixels
    assert_png(paths["fig4"], min_width=8 * 200, min_height=200)  # image, seed, 5 walks, ground truth
    printed = capsys.readouterr().out
    mu = float(np.asarray(model.get_layer("walk4").mu))
    assert f"   4  {mu:.4f}" in printed and "(0.6520 / 0.6570)" in printed


def test_the_maps_are_the_models_and_the_rows_those_of_the_reference_matrix(difnet_run):
    """E = sum_k |x_k|, M, the argmax after each step and, for each pixel, row i of P_t = row-softmax(Psi Psi^T)
    (the reference builds P_t whole); the chosen pixels map to their seed-map cells."""
    _, model = difnet_run
    image = np.random.default_rng(4).uniform(0, 255, (70, 90, 3)).astype(np.float32)
    pixels = [(0, 0), (69, 89), (35, 45)]
    maps = visualize_difnet.difnet_maps(model, image, pixels)
    outputs = {name: np.asarray(value)[0] for name, value in analysis_outputs(model)(image[None]).items()}
    h, w = outputs["importance"].shape[:2]
    assert (h, w) == (9, 12) and maps["nodes"] == [(0, 0), (8, 11), (4, 6)]
    np.testing.assert_allclose(maps["influence"], np.abs(outputs["score_map"]).sum(-1), rtol=1e-6)
    np.testing.assert_array_equal(maps["steps"]["after walk 5"], outputs["walk5"].argmax(-1))
    for t in range(1, 6):
        psi = outputs[f"psi{t}"].reshape(1, h * w, -1)
        expected = ref.transition_matrix(psi)[0][[0, 8 * w + 11, 4 * w + 6]].reshape(3, h, w)
        np.testing.assert_allclose(maps["rows"][t], expected, rtol=1e-4, atol=1e-6)


def test_default_pixels_and_an_image_file(difnet_run, tmp_path):
    model_dir, _ = difnet_run
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (50, 64, 3), dtype=np.uint8)).save(tmp_path / "i.png")
    paths = visualize_difnet.visualize(model_dir, image_path=tmp_path / "i.png")
    assert paths["fig4"] == model_dir / "visualize_difnet_fig4.png" and paths["fig4"].is_file()
    importance = np.zeros((7, 8))
    importance[1, 2], importance[6, 7] = 1.0, -1.0
    assert visualize_difnet.choose_pixels(importance, (50, 64, 3)) == [(25, 32), (10, 20), (46, 60)]


def test_errors_name_the_problem(difnet_run, tmp_path):
    model_dir, _ = difnet_run
    with pytest.raises(visualize_difnet.VisualizationError, match="outside the 50 x 60 image"):
        visualize_difnet.to_node((50, 3), (50, 60, 3), (7, 8))
    for text in ("1,2;3", "a,b", ";"):
        with pytest.raises(visualize_difnet.VisualizationError, match="--pixels must be row,column pairs"):
            visualize_difnet.parse_pixels(text)
    assert visualize_difnet.parse_pixels("1,2; 3,4") == [(1, 2), (3, 4)]
    sim_dir = tmp_path / "sim"
    make_model_dir(sim_dir, "sim_deeplab_18", seed=2)
    with pytest.raises(visualize_difnet.VisualizationError, match="no DifNet with random walks"):
        visualize_difnet.visualize(sim_dir)
    with pytest.raises(visualize_difnet.VisualizationError, match="config.json not found"):
        visualize_difnet.visualize(tmp_path / "nothing")
