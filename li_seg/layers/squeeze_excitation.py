"""Squeeze-and-excitation (Hu et al. 2018, Sec. 3): the channel attention PAN's Table 1 compares FPA with
("ResNet101 + SE", on the backbone's last features).

    s = sigmoid(W_2 ReLU(W_1 GAP(x) + b_1) + b_2),   SE(x) = x * s    (W_1: C -> C / r, W_2: C / r -> C)
"""

from __future__ import annotations

import keras


def squeeze_excitation(x, reduction: int = 16, name: str = "se"):
    """SE on `x` (B, H, W, C) with reduction ratio `reduction` (the SE paper's 16); Dense layers with bias."""
    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(name=f"{name}_squeeze_average")(x)
    s = keras.layers.Dense(max(channels // reduction, 1), activation="relu", name=f"{name}_squeeze")(s)
    s = keras.layers.Dense(channels, activation="sigmoid", name=f"{name}_excite")(s)
    s = keras.layers.Reshape((1, 1, channels), name=f"{name}_reshape")(s)
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])
