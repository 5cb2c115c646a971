"""li_seg.layers.SimilarityEmbedding (DifNet's Psi): 1x1 conv with bias -> BN at the level's resolution -> adaptive
max pooling to the seed's size, against NumPy (the pooling by the loop transcription of PyTorch's bins in
tests/test_adaptive_pooling.py); the pooling's FLOP rule counts every bin's taps."""

import keras
import numpy as np

from li_seg.analysis.flops import count_flops
from li_seg.layers import BatchNormSettings
from li_seg.layers.similarity_embedding import SimilarityEmbedding, _bin_taps

from tests.test_adaptive_pooling import _reference as pool_reference


def test_similarity_embedding_matches_numpy_at_any_level_size():
    block = SimilarityEmbedding(5, 3, BatchNormSettings(), channels=4)
    rng = np.random.default_rng(0)
    for weight in block.weights:
        low = 0.5 if weight.path.endswith("moving_variance") else -0.5
        weight.assign(rng.uniform(low, low + 1.0, weight.shape).astype("float32"))
    conv, bn = block.get_layer("psi_conv"), block.get_layer("psi_bn")
    gamma, beta, mean, var = (v.numpy() for v in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    seed = np.zeros((2, 7, 6, 3), "float32")
    for level_size in [(25, 23), (7, 6), (13, 12)]:  # the image, block1 (OS 4) and a level at the seed's size
        level = rng.normal(size=(2, *level_size, 5))
        embedded = (level @ conv.kernel.numpy()[0, 0] + conv.bias.numpy() - mean) / np.sqrt(var + 1e-5) * gamma + beta
        expected = pool_reference(embedded, 7, 6)
        np.testing.assert_allclose(block([level.astype("float32"), seed], training=False), expected, atol=1e-5)


def test_the_pooling_counts_every_bins_taps():
    assert _bin_taps(10, 3) == 4 + 4 + 4 and _bin_taps(7, 7) == 7
    assert _bin_taps(3, 5) == 1 + 2 + 1 + 2 + 1  # growing: [0, 1), [0, 2), [1, 2), [1, 3), [2, 3) overlap
    level = keras.Input((None, None, 2))
    seed = keras.layers.AveragePooling2D(2)(level)  # the seed at half the level's size, as block1 against OS 8
    model = keras.Model(level, SimilarityEmbedding(2, 2, BatchNormSettings(), channels=3)([level, seed]))
    conv = 10 * 10 * 3 * 2 * 2  # 1x1 conv 2 -> 3 at 10 x 10
    assert count_flops(model, 10, 10, "macs") == conv
    # + bias and BN (1 + 2 per element at 10 x 10), the seed's average pool (4 taps per 5 x 5 x 2 output), and Psi's
    # pooling to 5 x 5: bins of 2 rows x 2 columns, 10 x 10 taps per channel
    assert count_flops(model, 10, 10, "profiler") == conv + 10 * 10 * 3 * 3 + 5 * 5 * 2 * 4 + 3 * 10 * 10
