"""DifNet's importance map M = H(x) (Jiang et al., NeurIPS 2018, Sec. 3.2; sdujump/DifNet model_difnet.py): how much
of each pixel's score the seed keeps, s = M * x, M in [0, 1] broadcast over the classes.

    H(x) = sigmoid(conv5(ReLU(BN(conv5(ReLU(BN(conv5(ReLU(BN(x))))))))))     K -> 8 -> 4 -> 1 channels

Each conv is 5x5, SAME, without bias (the authors' code); BN epsilon 1e-5 (PyTorch's). `ImportanceMap(...)` returns
a functional sub-model: layers "<name>_bn<k>", "<name>_relu<k>", "<name>_conv<k>" (k = 1, 2, 3), "<name>_sigmoid".
"""

from __future__ import annotations

import keras

from li_seg.layers.normalization import BatchNormSettings, batch_norm

WIDTHS = (8, 4, 1)
BN_EPSILON = 1e-5


def ImportanceMap(num_classes: int, bn: BatchNormSettings, name: str = "importance") -> keras.Model:
    """H of the module docstring as a sub-model: scores (B, h, w, num_classes) -> M (B, h, w, 1) in [0, 1]."""
    scores = keras.Input((None, None, num_classes), name=f"{name}_scores")
    x = scores
    for index, width in enumerate(WIDTHS, start=1):
        x = batch_norm(bn, BN_EPSILON, f"{name}_bn{index}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{index}")(x)
        x = keras.layers.Conv2D(width, 5, padding="same", use_bias=False, name=f"{name}_conv{index}")(x)
    return keras.Model(scores, keras.layers.Activation("sigmoid", name=f"{name}_sigmoid")(x), name=name)
