"""Table of the TF DeepLabv2 ResNet-101 of Wang & Ji ("Smoothed Dilated Convolutions", KDD 2018; network.py of
zhengyang-wang/Deeplab-v2--ResNet-101--Tensorflow, the code the smoothing paper builds on), whose
deeplab_resnet_init.ckpt (MS-COCO-pretrained, DrSleep's conversion of DeepLab's Caffe model) the smoothing paper
starts from.

Caffe's names, no top-level scope: "conv1" / "bn_conv1"; block b's unit u is "res{b+1}{x}" with x = a, b, c in
blocks 1 and 4 and a, b1, b2, ... in blocks 2 and 3 (res3b1-3, res4b1-22); convs "_branch2a" / "2b" / "2c" (our
conv1 / conv2 / conv3) and "_branch1" (the projection shortcut), each BN "bn{b+1}{x}_branch..." with
beta / gamma / moving_mean / moving_variance directly under it (tf.contrib batch_norm re-entering the scope: no
"BatchNorm" level); the ASPP-v2 classifier "fc1_voc12_c0" ... "c3" (rates 6, 12, 18, 24; weights and biases).
Kernels are HWIO already. Its network is the caffe layout (the stride on the first 1x1 conv of a block's first
unit) with TF SAME padding everywhere, which equals ours for odd input sizes (the paper's 321 crops).
BN epsilon 1e-3: tf.contrib.layers.batch_norm's default, which that code runs with (the Caffe original used 1e-5).
`CLASSIFIER_KEYS`: the classifier, ignored when only the backbone is loaded (the init checkpoint's classifier is
random: DrSleep's README).
"""

from __future__ import annotations

from li_seg.weights.mapping import BN_VARIABLES, Mapping, Rule, Variable

KINDS = {
    "conv": {"kernel": Variable(("{p}/weights",)), "bias": Variable(("{p}/biases",))},
    "bn": {name: Variable((f"{{p}}/{name}",)) for name in BN_VARIABLES},
}
_CONV = r"(?P<conv>conv[123]|shortcut)"
_LETTER = r"block(?P<b>[14])_unit(?P<letter>[123])_" + _CONV  # blocks 1 and 4: a, b, c
_FIRST = r"block(?P<b>[23])_unit1_" + _CONV  # blocks 2 and 3: a, b1, b2, ...
_LATER = r"block(?P<b>[23])_unit(?P<u>\d+)_" + _CONV

BACKBONE = Mapping(
    name="Wang & Ji's TF DeepLabv2 ResNet-101",
    rules=(
        Rule(r"conv1", "conv1", "conv"),
        Rule(r"conv1_bn", "bn_conv1", "bn"),
        Rule(_LETTER, "res{b_plus_1}{letter}_branch{conv}", "conv"),
        Rule(_LETTER + "_bn", "bn{b_plus_1}{letter}_branch{conv}", "bn"),
        Rule(_FIRST, "res{b_plus_1}a_branch{conv}", "conv"),
        Rule(_FIRST + "_bn", "bn{b_plus_1}a_branch{conv}", "bn"),
        Rule(_LATER, "res{b_plus_1}b{u_minus_1}_branch{conv}", "conv"),
        Rule(_LATER + "_bn", "bn{b_plus_1}b{u_minus_1}_branch{conv}", "bn"),
    ),
    kinds=KINDS,
    vocabulary={"conv": {"conv1": "2a", "conv2": "2b", "conv3": "2c", "shortcut": "1"},
                "letter": {"1": "a", "2": "b", "3": "c"}},
    ignored=(r"global_step", r".*/Momentum"),
    bn_epsilon=1e-3,
    normalization="caffe_bgr",  # Wang & Ji's IMG_MEAN (104.008, 116.669, 122.679), BGR: DeepLabv2's Caffe mean
)
CLASSIFIER = Mapping(
    name="its ASPP-v2 classifier",
    rules=(Rule(r"logits_rate(?P<rate>\d+)", "fc1_voc12_c{rate}", "conv"),),
    kinds=KINDS,
    vocabulary={"rate": {"6": "0", "12": "1", "18": "2", "24": "3"}},
)
CLASSIFIER_KEYS = (r"fc1_voc12_c\d/.*",)


def holds(keys) -> bool:
    """Whether a TF1 checkpoint's `keys` are this network's."""
    return "bn_conv1/moving_mean" in keys and "res2a_branch2a/weights" in keys
