"""SS Conv of Wang & Ji, "Smoothed Dilated Convolutions for Improved Dense Prediction" (KDD 2018), the
smoothing paper's learned baseline: one (2r-1) x (2r-1) filter per layer, shared by all channels, in front of a
rate-r dilated conv.

Authors' code (zhengyang-wang/Deeplab-v2--ResNet-101--Tensorflow, dilated.py, commit 07312ce; copied unchanged by
Ziegler et al.): `_smoothed_dilated_conv2d_SSC`: fix_w [2r-1, 2r-1, 1, 1, 1] zero-initialised plus a constant 1
at the centre (r-1, r-1), conv3d on (N, H, W, C, 1): one filter shared by all channels.
"""

from __future__ import annotations

import tensorflow as tf

import keras
from li_seg.analysis.flops import depthwise_flops, register_flop_rule
from li_seg.layers.smoothing.kernels import check_rate, constant_initializer, depthwise, identity_kernel, known_channels


@keras.saving.register_keras_serializable(package="li_seg")
class SharedSmoothing(keras.layers.Layer):
    """SS Conv (Wang & Ji): one trainable (2r-1) x (2r-1) filter per layer, shared by all channels.

    y[i, c] = sum_n x[i - n, c] v[n] for every channel c with the same v (weight `smoothing_kernel`, shape
    (2r-1, 2r-1), TF orientation), SAME zero padding. Initialised to the identity (zeros, centre 1), so the
    layer starts as the identity. The authors store zeros plus a constant centre 1 (fix_w + mask); storing the
    whole filter has the same gradients and, without weight decay on it (as theirs), the same training.
    """

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("SharedSmoothing", rate)
        self.size = 2 * self.rate - 1

    def build(self, input_shape):
        self._num_channels = known_channels("SharedSmoothing", input_shape)
        self.smoothing_kernel = self.add_weight(
            name="smoothing_kernel",
            shape=(self.size, self.size),
            initializer=constant_initializer(identity_kernel(self.size)),
            trainable=True,
            autocast=False,
        )

    def kernel(self):
        """The depthwise kernel (2r-1, 2r-1, C, 1) in the compute dtype (the shared filter tiled over C)."""
        kernel = tf.cast(self.smoothing_kernel, self.compute_dtype)[:, :, None, None]
        return tf.tile(kernel, [1, 1, self._num_channels, 1])

    def call(self, inputs):
        return depthwise(inputs, self.kernel())

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate)
        return config


@register_flop_rule(SharedSmoothing)
def _flops(layer: SharedSmoothing, call, convention) -> int:
    """One (2r-1) x (2r-1) depthwise filter per channel: 2 (2r-1)^2 per element."""
    return depthwise_flops(call, (layer.size, layer.size), (1, 1), convention)
