"""The research/deeplab decoder path (issue 24 item 9), against NumPy forwards of its equations: the low-level
feature taken inside ResNet-50's block1 unit 2 (its conv3 after BN, before the residual sum and ReLU:
research/deeplab's 'block1/unit_2/bottleneck_v1/conv3' end point) and TF1's align-corners bilinear resize; the LI
paper's Table V decoder rows use both by default."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import papers
from li_seg.backbones import build_backbone
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.resize import ResizeToMatch
from li_seg.models import build_model
from li_seg.ops.resize import bilinear_resize
from tests.paper_models import small_config

RNG = np.random.default_rng(9)


def numpy_align_corners_resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """TF1 resize_bilinear(align_corners=True) from its definition: output pixel i samples input position
    i * (in - 1) / (out - 1), interpolated linearly between its two neighbours, along rows then columns."""
    def axis(values, size, along):
        n = values.shape[along]
        source = np.arange(size) * ((n - 1) / (size - 1) if size > 1 else 0.0)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n - 1)
        weight = (source - low).reshape([-1 if a == along else 1 for a in range(values.ndim)])
        return np.take(values, low, axis=along) * (1 - weight) + np.take(values, high, axis=along) * weight
    return axis(axis(x.astype(np.float64), height, 1), width, 2)


@pytest.mark.parametrize("shape, size", [((2, 9, 9, 3), (65, 65)), ((1, 5, 7, 2), (17, 12)), ((1, 4, 4, 1), (1, 9))])
def test_align_corners_resize_is_tf1s(shape, size):
    x = RNG.normal(size=shape).astype(np.float32)
    expected = numpy_align_corners_resize(x, *size)
    layer = ResizeToMatch(align_corners=True)
    ours = layer([tf.constant(x), tf.zeros((shape[0], *size, 1))]).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    np.testing.assert_allclose(bilinear_resize(x, size, align_corners=True).numpy(), expected, atol=1e-5)  # XLA's
    assert ResizeToMatch.from_config(layer.get_config()).align_corners


def test_the_low_level_residual_is_conv3_after_bn_before_the_sum():
    backbone = build_backbone(BackboneConfig(name="resnet50", stem="beta", output_stride=16), BatchNormSettings())
    for layer in backbone.layers:  # BN statistics away from the identity, so that BN is really checked
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable, low, high in zip(layer.weights, (0.5, -0.2, -0.2, 0.5), (1.5, 0.2, 0.2, 1.5)):
                variable.assign(RNG.uniform(low, high, variable.shape))
    images = RNG.uniform(0, 255, (1, 49, 49, 3)).astype(np.float32)
    probe = keras.Model(backbone.input, [backbone.get_layer("block1_unit2_conv2_relu").output,
                                         backbone.get_layer("block1_unit1_out").output])
    conv2_out, unit1_out = (t.numpy().astype(np.float64) for t in probe(images))
    kernel = backbone.get_layer("block1_unit2_conv3").kernel.numpy()[0, 0]
    gamma, beta, mean, variance = (w.numpy() for w in backbone.get_layer("block1_unit2_conv3_bn").weights)
    epsilon = backbone.get_layer("block1_unit2_conv3_bn").epsilon
    residual = (conv2_out @ kernel - mean) / np.sqrt(variance + epsilon) * gamma + beta  # 1x1 conv, then BN
    outputs = backbone(images)
    np.testing.assert_allclose(outputs["low_level_residual"], residual, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outputs["low_level"], np.maximum(unit1_out + residual, 0), rtol=1e-4, atol=1e-4)


def test_table_v_decoder_rows_read_it_and_resize_as_research_deeplab():
    for ablation in ("resnet50_aspp_decoder", "rd_resnet50_rd_aspp_decoder", "li_resnet50_li_aspp_decoder"):
        head = papers.get_experiment("li_convs", ablation).model.head
        assert (head.low_level_feature, head.align_corners) == ("residual_branch", True), ablation
    model = build_model(small_config("li_convs", "resnet50_aspp_decoder"), 3)  # on ResNet-18
    projection = model.get_layer("decoder_feature_projection")
    backbone = model.get_layer("resnet18")
    images = RNG.uniform(0, 255, (1, 33, 33, 3)).astype(np.float32)
    projected = keras.Model(model.input, projection.output)(images)
    residual = backbone(images)["low_level_residual"]
    np.testing.assert_allclose(projected, residual.numpy() @ projection.kernel.numpy()[0, 0], rtol=1e-4, atol=1e-4)
    assert all(layer.align_corners for layer in model.layers if isinstance(layer, ResizeToMatch))
    mobile = papers.get_experiment("li_convs", "mnv2_aspp").model
    wrong = dataclasses.replace(mobile, architecture="deeplabv3plus",
                                head=dataclasses.replace(mobile.head, low_level_feature="residual_branch"))
    with pytest.raises(ValueError, match="residual_branch is the v3\\+ decoder's tap inside a ResNet unit"):
        build_model(wrong, 3)
