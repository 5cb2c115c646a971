"""Tables of keras.applications' HDF5 weight files (the files its downloads leave in ~/.keras/models, or any
save of those models; legacy and Keras 3 layouts: `li_seg.weights.sources.read_hdf5`).

- `KERAS_MOBILENET_V2`: MobileNetV2 (…_1.0_224[_no_top].h5): our layer names are Keras' own, one to one; its
  final 1x1 1280 conv ("Conv_1", "Conv_1_bn") and classifier ("predictions") are not built here. BN epsilon 1e-3.
- `KERAS_RESNET`: ResNet50 / ResNet101 / ResNet152 (resnet50_weights_tf_dim_ordering_tf_kernels[_notop].h5,
  resnet101_…, resnet152_…): "conv1_conv" -> our "conv1"; block b's unit u ("conv{b+1}_block{u}") convs "_1" /
  "_2" / "_3" -> our conv1 / conv2 / conv3, "_0" -> our shortcut. Its layout is the caffe one (the stride on the
  first 1x1 conv of a block's first unit) except the max-pool, which pads by 1 in floor mode like torchvision
  (ours in the caffe layout is ceil mode: equal for an odd-sized stem output, one more row / column otherwise).
  Its convs have biases and ours do not: each bias is folded into the BN that follows
  (`mapping.fold_bias_into_mean`, exact). BN epsilon 1.001e-5, as Keras builds these ResNets.
"""

from __future__ import annotations

from li_seg.weights.mapping import BN_VARIABLES, Mapping, Rule, Variable, fold_bias_into_mean

KERAS_MOBILENET_V2 = Mapping(
    name="keras.applications MobileNetV2",
    rules=(Rule(r"(?P<name>.+)", "{name}", "layer"),),
    kinds={"layer": {name: Variable(("{p}/" + name,)) for name in ("kernel",) + BN_VARIABLES}},
    ignored=(r"Conv_1/.*", r"Conv_1_bn/.*", r"predictions/.*"),
    bn_epsilon=1e-3,
    normalization="unit_range",  # keras.applications.mobilenet_v2.preprocess_input: mode "tf"
)

_UNIT = r"block(?P<b>\d)_unit(?P<u>\d+)"

KERAS_RESNET = Mapping(
    name="keras.applications ResNet (biases folded into BN)",
    rules=(
        Rule(r"conv1", "conv1", "conv"),
        Rule(r"conv1_bn", "conv1", "bn"),
        Rule(_UNIT + r"_conv(?P<k>[123])", "conv{b_plus_1}_block{u}_{k}", "conv"),
        Rule(_UNIT + r"_conv(?P<k>[123])_bn", "conv{b_plus_1}_block{u}_{k}", "bn"),
        Rule(_UNIT + r"_shortcut", "conv{b_plus_1}_block{u}_0", "conv"),
        Rule(_UNIT + r"_shortcut_bn", "conv{b_plus_1}_block{u}_0", "bn"),
    ),
    kinds={
        "conv": {"kernel": Variable(("{p}_conv/kernel",))},
        "bn": {
            "gamma": Variable(("{p}_bn/gamma",)),
            "beta": Variable(("{p}_bn/beta",)),
            "moving_mean": Variable(("{p}_bn/moving_mean", "{p}_conv/bias"), fold_bias_into_mean),
            "moving_variance": Variable(("{p}_bn/moving_variance",)),
        },
    },
    ignored=(r"predictions/.*", r"probs/.*"),
    bn_epsilon=1.001e-5,
    normalization="caffe_bgr_keras",  # keras.applications.resnet.preprocess_input: mode "caffe"
)
