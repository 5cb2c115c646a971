"""li_seg.layers.ImportanceMap (DifNet's H, Sec. 3.2 and the authors' code) against a NumPy transcription with
plain loops over the 5x5 taps: BN (inference) -> ReLU -> 5x5 conv without bias, K -> 8 -> 4 -> 1, sigmoid."""

import numpy as np

from li_seg.layers import BatchNormSettings
from li_seg.layers.importance_map import ImportanceMap


def _conv5(x, kernel):
    """SAME 5x5 conv, zero padding 2, no bias: out[y, x] = sum_{a, b} in[y + a - 2, x + b - 2] kernel[a, b]."""
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    height, width = x.shape[1:3]
    out = np.zeros((*x.shape[:3], kernel.shape[-1]))
    for a in range(5):
        for b in range(5):
            out += padded[:, a:a + height, b:b + width] @ kernel[a, b]
    return out


def test_importance_map_matches_numpy_and_lies_in_zero_one():
    block = ImportanceMap(6, BatchNormSettings())
    rng = np.random.default_rng(0)
    for weight in block.weights:
        low = 0.5 if weight.path.endswith("moving_variance") else -0.5
        weight.assign(rng.uniform(low, low + 1.0, weight.shape).astype("float32"))
    x = rng.normal(size=(2, 9, 7, 6))
    expected = x
    for index in (1, 2, 3):
        bn = block.get_layer(f"importance_bn{index}")
        gamma, beta, mean, var = (v.numpy() for v in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
        expected = np.maximum((expected - mean) / np.sqrt(var + 1e-5) * gamma + beta, 0.0)
        expected = _conv5(expected, block.get_layer(f"importance_conv{index}").kernel.numpy())
    expected = 1 / (1 + np.exp(-expected))
    ours = block(x.astype("float32"), training=False).numpy()
    assert ours.shape == (2, 9, 7, 1) and 0.0 <= ours.min() and ours.max() <= 1.0
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert [block.get_layer(f"importance_conv{k}").kernel.shape[-1] for k in (1, 2, 3)] == [8, 4, 1]
    assert not any(layer.use_bias for layer in block.layers if hasattr(layer, "use_bias") and "conv" in layer.name)
