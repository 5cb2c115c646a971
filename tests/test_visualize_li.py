"""scripts/visualize_li.py: the LI-Convs paper's Fig. 5 (features before / after an LI layer) and Fig. 6 (class heat
maps, baseline vs LI) from model dirs, the LI equation on the plotted features, and the tool's error messages."""

import keras
import numpy as np
import pytest
from PIL import Image

from experiments import config as config_lib
from experiments.papers import li_convs
from li_seg.data import get_dataset_info
from li_seg.models import build_model
from scripts import visualize_li

from tests.model_dir_helpers import write_model_dir

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_model_dir(path, ablation, seed):
    """A model dir as experiments.train leaves it (config.json, checkpoints/ckpt-1), LI intensities random in
    [0, 1] so that the LI layers are not the identity; returns the model."""
    cfg = li_convs.ABLATIONS[ablation]()
    keras.utils.set_random_seed(seed)
    model = build_model(cfg.model, get_dataset_info(cfg.data.dataset).num_classes)
    rng = np.random.default_rng(seed)
    for _, layer in visualize_li.li_layers(model).values():
        layer.intensity.assign(rng.uniform(0.0, 1.0, layer.intensity.shape).astype(np.float32))
    write_model_dir(path, cfg, model)
    return model


@pytest.fixture(scope="module")
def li_run(tmp_path_factory):
    """(model dir, model) of the paper's main model, LI-MNV2 + LI-ASPP."""
    model_dir = tmp_path_factory.mktemp("li") / "run"
    return model_dir, make_model_dir(model_dir, li_convs.MAIN_ABLATION, seed=1)


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory):
    """The model dir of the baseline, MNV2 + ASPP (no LI layer)."""
    model_dir = tmp_path_factory.mktemp("baseline") / "run"
    make_model_dir(model_dir, "mnv2_aspp", seed=2)
    return model_dir


def assert_png(path, min_width, min_height):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        assert image.width >= min_width and image.height >= min_height


def test_figures_of_a_dataset_example_with_baseline(li_run, baseline_dir, tmp_path, capsys):
    model_dir, _ = li_run
    paths = visualize_li.visualize(model_dir, baseline_model_dir=baseline_dir, index=1, channels=3, classes=2,
                                   output=tmp_path / "out.png")
    assert paths == {"fig5": tmp_path / "out_fig5.png", "fig6": tmp_path / "out_fig6.png"}
    assert_png(paths["fig5"], min_width=4 * 200, min_height=400)  # 4 columns x 2 rows
    assert_png(paths["fig6"], min_width=5 * 200, min_height=2 * 200)  # image, truth, 2 heat maps, prediction; 2 rows
    printed = capsys.readouterr().out
    for name in ("block_9_lateral_inhibition", "block_15_lateral_inhibition", "aspp3_lateral_inhibition"):
        assert name in printed
    assert "rb10 (block_9_lateral_inhibition)" in printed and "aspp_rate18 (aspp3_lateral_inhibition)" in printed
    assert "Fig. 5 channels of rb10 (block_9_lateral_inhibition)" in printed


def test_figures_of_an_image_file_default_output(li_run, tmp_path):
    model_dir, _ = li_run
    image = np.random.default_rng(0).integers(0, 256, size=(40, 56, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "image.png")
    paths = visualize_li.visualize(model_dir, image_path=tmp_path / "image.png", layer="aspp_rate12",
                                   channels=2, classes=1)
    assert paths["fig5"] == model_dir / "visualize_li_fig5.png"
    assert_png(paths["fig5"], min_width=3 * 200, min_height=400)
    assert_png(paths["fig6"], min_width=3 * 200, min_height=200)  # image, 1 heat map, prediction


def li_conv_reference(before, weight, zone_size, sigma, rate):
    """ReLU(x - sum_{u != 0} W_L exp(-|u|^2 / (2 sigma^2)) x(n + rate u)) of one channel (h, w), zeros outside."""
    t = zone_size // 2
    height, width = before.shape
    padded = np.pad(before.astype(np.float64), rate * t)
    result = before.astype(np.float64).copy()
    for dy in range(-t, t + 1):
        for dx in range(-t, t + 1):
            if dy or dx:
                neighbour = padded[rate * (t + dy):rate * (t + dy) + height, rate * (t + dx):rate * (t + dx) + width]
                result -= weight * np.exp(-(dy**2 + dx**2) / (2 * sigma**2)) * neighbour
    return np.maximum(result, 0.0)


@pytest.mark.parametrize("layer_name", ["block_12_lateral_inhibition", "aspp1_lateral_inhibition"])
def test_after_is_relu_of_lateral_inhibition_of_before(li_run, layer_name):
    _, model = li_run
    image = np.random.default_rng(3).uniform(0, 255, size=(80, 96, 3)).astype(np.float32)
    before, after = visualize_li.feature_maps(model, layer_name, image)
    assert before.shape == after.shape and before.shape[:2] == (5, 6)  # output stride 16
    layer = model.get_layer("mobilenet_v2").get_layer(layer_name) if "block" in layer_name else model.get_layer(
        layer_name)
    weights = visualize_li.intensity(layer)
    scale = np.abs(before).max()
    assert scale > 0
    for channel in visualize_li.strongest_channels(weights, 3):
        expected = li_conv_reference(before[..., channel], weights[channel], layer.zone_size, layer.sigma, layer.rate)
        np.testing.assert_allclose(after[..., channel], expected, rtol=0, atol=1e-5 * scale)
    # The inhibition changed the features (an untrained model's are tiny: compare relative to their size).
    assert np.abs(after - np.maximum(before, 0)).max() > 1e-2 * scale


def test_unknown_layer_lists_the_valid_ones(li_run):
    model_dir, model = li_run
    with pytest.raises(visualize_li.VisualizationError, match="unknown --layer 'conv5_3'.*block_9_lateral_inhibition"):
        visualize_li.select_layer(model, "conv5_3")
    with pytest.raises(visualize_li.VisualizationError,
                       match=r"aspp_rate6 \(aspp1_lateral_inhibition\), aspp_rate12 \(aspp2_lateral_inhibition\)"):
        visualize_li.visualize(model_dir, layer="aspp_lateral_inhibition")


def test_model_without_li_names_the_li_ablations(baseline_dir):
    with pytest.raises(visualize_li.VisualizationError, match="no lateral-inhibition layers") as raised:
        visualize_li.visualize(baseline_dir)
    for ablation in ("mnv2_li_aspp", "li_mnv2_li_aspp", "li_resnet50_li_aspp_decoder"):
        assert ablation in str(raised.value)
    assert "rd_resnet50_rd_aspp" not in str(raised.value)  # RD has depthwise convs, no LI intensities


def test_model_dir_without_config_or_checkpoint(tmp_path):
    with pytest.raises(visualize_li.VisualizationError, match="config.json not found"):
        visualize_li.visualize(tmp_path)
    config_lib.save(li_convs.li_mnv2_li_aspp(), tmp_path / "config.json")
    with pytest.raises(visualize_li.VisualizationError, match="no checkpoint in"):
        visualize_li.visualize(tmp_path)


def test_unreadable_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not an image")
    for path in (tmp_path / "broken.png", tmp_path / "missing.jpg"):
        with pytest.raises(visualize_li.VisualizationError, match="cannot read --image"):
            visualize_li.load_image(path)
