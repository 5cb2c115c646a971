"""li_seg.analysis.flops: the FLOP counter against hand arithmetic and against TensorFlow's profiler, the rules
that custom layers register beside themselves, and inference-only counting (auxiliary heads are not counted)."""

import keras
import pytest

from experiments.papers import get_experiment
from li_seg.analysis.flops import count_flops, register_flop_rule
from li_seg.config import AuxHeadConfig, BackboneConfig, ModelConfig
from li_seg.layers.lateral_inhibition import LateralInhibition
from li_seg.models import build_model, inference_model
from scripts import model_table

NUM_CLASSES = 21


def _model(ablation):
    return build_model(get_experiment("li_convs", ablation).model, NUM_CLASSES)


def _tiny_model():
    """16x16x3 -> conv 3x3 8 (bias) -> [nested: depthwise 3x3 stride 2 -> LI 5x5 -> depthwise 3x3 rate 3]."""
    inner_input = keras.Input((16, 16, 8))
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(inner_input)
    x = LateralInhibition(zone_size=5)(x)
    x = keras.layers.DepthwiseConv2D(3, dilation_rate=3, padding="same", use_bias=False)(x)
    inner = keras.Model(inner_input, x, name="inner")
    images = keras.Input((None, None, 3))
    return keras.Model(images, inner(keras.layers.Conv2D(8, 3, padding="same")(images)))


def test_flops_of_a_tiny_model_by_hand():
    conv = 16 * 16 * 8 * 2 * (3 * 3 * 3)  # output elements x 2 x (kh kw C_in)
    strided_depthwise = 8 * 8 * 8 * 2 * (3 * 3)
    lateral_inhibition = 8 * 8 * 8 * 2 * (5 * 5)
    dilated_depthwise = 8 * 8 * 8 * 2 * (3 * 3)
    model = _tiny_model()
    assert count_flops(model, 16, 16, "macs") == (
        conv + strided_depthwise + lateral_inhibition + dilated_depthwise
    )
    bias = 16 * 16 * 8
    dilated_on_space_to_batch_grid = 9 * 9 * 8 * 2 * (3 * 3)  # 8 rows at rate 3: ceil(8 / 3) * 3 = 9
    argmax = 8 * 8 * (8 - 1)
    assert count_flops(model, 16, 16, "paper") == (
        conv + bias + strided_depthwise + lateral_inhibition + dilated_on_space_to_batch_grid + argmax
    )


def test_a_layer_called_twice_counts_both_calls_and_multiply_accumulates_count_once():
    """A shared conv whose second call reads a layer listed after it in the model's config (CycleASPP's Part II):
    both calls are walked and counted; "multiply_accumulates" is half of "macs"."""
    images = keras.Input((None, None, 4))
    shared = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)
    first = shared(images)
    wider = keras.layers.Conv2D(4, 1, use_bias=False)(first)
    model = keras.Model(images, shared(keras.layers.ReLU()(wider)))
    macs = 2 * (10 * 10 * 4 * 9 * 4) + 10 * 10 * 4 * 4
    assert count_flops(model, 10, 10, "multiply_accumulates") == macs
    assert count_flops(model, 10, 10, "macs") == 2 * macs


def test_profiler_convention_equals_tensorflows_profiler():
    """Dilated convs (SAME and VALID, on TF's space-to-batch grid), bias, add, max-pool, mean, dense."""
    images = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, dilation_rate=2, padding="same")(images)
    y = keras.layers.DepthwiseConv2D(3, dilation_rate=4, padding="same")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(5, 3, dilation_rate=3, padding="valid", use_bias=False)(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(images, x)
    for height, width in ((17, 17), (15, 22)):
        assert count_flops(model, height, width, "profiler") == model_table.profiler_flops(
            model, height, width
        )


def test_a_layer_without_rule_is_an_error():
    images = keras.Input((None, None, 3))
    model = keras.Model(images, keras.layers.LayerNormalization()(images))
    with pytest.raises(TypeError, match="no FLOP rule.*LayerNormalization"):
        count_flops(model, 8, 8)


def test_li_aspp_costs_three_depthwise_3x3_on_320_channels_at_33x33():
    """Default convention, 513 x 513: an OS-16 33 x 33 map; the LI layers run at rate 1 (no space-to-batch)."""
    difference = count_flops(_model("mnv2_li_aspp"), 513, 513) - count_flops(
        _model("mnv2_aspp"), 513, 513
    )
    assert difference == 2 * 33 * 33 * 9 * 320 * 3


class _Doubler(keras.layers.Layer):
    """A custom layer that registers its own FLOP rule beside itself (as li_seg's layers do)."""

    def call(self, x):
        return 2.0 * x


class _Tripler(_Doubler):
    def call(self, x):
        return 3.0 * x


@register_flop_rule(_Doubler)
def _doubler_flops(layer, call, convention):
    return 1000 + call.output_shapes[0][-1]


def test_custom_layers_bring_their_own_rule_and_subclasses_inherit_it():
    images = keras.Input((None, None, 3))
    model = keras.Model(images, _Tripler()(_Doubler()(images)))
    assert count_flops(model, 4, 4, "macs") == 2 * (1000 + 3)


def test_auxiliary_heads_are_not_inference_cost():
    """The inference model is counted: an aux head adds parameters, not inference FLOPs; the training model's
    several outputs are refused with the way to count."""
    backbone = BackboneConfig(name="resnet18", layout="torchvision", stem="plain", output_stride=16)
    plain = build_model(ModelConfig(backbone=backbone), 5)
    with_aux = build_model(ModelConfig(backbone=backbone, aux_heads=(AuxHeadConfig(feature="block3"),)), 5)
    assert with_aux.count_params() > plain.count_params()
    assert count_flops(inference_model(with_aux), 65, 65) == count_flops(plain, 65, 65)
    with pytest.raises(ValueError, match="several outputs .*count_flops\\(li_seg.models.inference_model"):
        count_flops(with_aux, 65, 65)


@pytest.mark.parametrize("kind, unit_flops", [
    # per element of each dilated conv2's input (h x w x C): SS Conv a (2r-1)^2 depthwise filter, the paper's
    # Gaussian an r x r one (2 FLOPs per tap), G Interact r^2 multiply-accumulates on the map padded to r.
    ("ss_conv", lambda r, h, c: h * h * c * 2 * (2 * r - 1) ** 2),
    ("gaussian", lambda r, h, c: h * h * c * 2 * r * r),
    ("g_interact", lambda r, h, c: (-(-h // r) * r) ** 2 * c * 2 * r * r),
])
def test_smoothing_layers_count_their_filters(kind, unit_flops):
    """ResNet-18 (caffe layout: every unit of a dilated block at its rate) at OS 8 (65 x 65 -> 9 x 9): block3's
    two units at rate 2 (256 channels), block4's two at rate 4
    (512); the smoothing layers' own rules (beside their classes) against hand arithmetic."""
    from li_seg.config import SmoothingConfig
    from li_seg.models.deeplab import DeepLabConfig

    def model(smoothing):
        backbone = BackboneConfig(name="resnet18", layout="caffe", stem="plain", output_stride=8,
                                  smoothing=smoothing)
        return build_model(ModelConfig(architecture="deeplabv2", backbone=backbone,
                                       head=DeepLabConfig(atrous_rates=(6, 12, 18, 24))), 3)

    expected = 2 * unit_flops(2, 9, 256) + 2 * unit_flops(4, 9, 512)
    for convention in ("paper", "macs"):
        difference = count_flops(model(SmoothingConfig(kind=kind)), 65, 65, convention) - count_flops(
            model(None), 65, 65, convention)
        assert difference == expected, convention
