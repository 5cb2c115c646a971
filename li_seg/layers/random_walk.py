"""DifNet's random walk as a layer (Jiang et al., NeurIPS 2018, Eq. 4-5; sdujump/DifNet model_difnet.py).

    y_{t+1} = beta_t * (mu_t * P_t y_t + (1 - mu_t) * s) + (1 - beta_t) * y_t,   P_t = row-softmax(f_t f_t^T)

on maps: y_t and the seed s (B, h, w, K), the walk's features f_t (B, h, w, D) (DifNet's Psi(f_t), already at the
seed's size); the h w positions are the nodes. mu_t and beta_t are learned as the authors' code parameterises
them, mu = sigmoid(-a), beta = sigmoid(-b) with a = b = 0 at the start (0.5 each); the variables are "mu_logit" (a)
and "beta_logit" (b). `li_seg.ops.diffusion_step` computes the walk; `chunk_size` says how: None builds P_t whole,
an int computes it that many rows at a time (never holding P_t whole, in either pass), "auto" (the default) builds
it whole up to `MATERIALISED_NODES` nodes and in chunks of `AUTO_CHUNK` rows above.

The layer computes in float32 unless given another dtype policy, also under a mixed_float16 global policy: the
row-softmax over thousands of nodes, whose entries are near 1 / (h w), and the convex combinations of y stay in
float32 (BUILD_NOTES 19.3).

In training the layer publishes mu_t and beta_t (the paper's Table 3) through the diagnostics hook:
"difnet_mu/<label>" and "difnet_beta/<label>".
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import ops

from li_seg.analysis.flops import elements, register_flop_rule
from li_seg.ops.diffusion import diffusion_step

MATERIALISED_NODES = 2048  # P_t of 2,048 nodes: 16 MB per image in float32
AUTO_CHUNK = 128  # at 4,225 nodes, batch 8: peak 0.08 of P built whole (BUILD_NOTES.md section 16)


def chunk_rows(chunk_size, nodes: Optional[int]):
    """The rows per chunk `chunk_size` ("auto", None or an int) means for `nodes` nodes, None when unknown at trace
    time ("auto": chunks, exact for any count). Returns None for P built whole."""
    if chunk_size == "auto":
        return None if nodes is not None and nodes <= MATERIALISED_NODES else AUTO_CHUNK
    return chunk_size


@keras.saving.register_keras_serializable(package="li_seg")
class RandomWalk(keras.layers.Layer):
    """One walk, called on [y, features, seed] maps (module docstring). chunk_size: "auto", None or rows per chunk;
    label: the walk's name in TensorBoard ("walk1"); dtype: float32 by default whatever the global policy."""

    def __init__(self, chunk_size="auto", label: str = "", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not (chunk_size in ("auto", None) or (isinstance(chunk_size, int) and chunk_size >= 1)):
            raise ValueError(f"RandomWalk: chunk_size must be 'auto', None or a positive int, got {chunk_size!r}")
        self.chunk_size, self.label = chunk_size, label

    def build(self, input_shape):
        self.mu_logit = self.add_weight(name="mu_logit", shape=(), initializer="zeros")
        self.beta_logit = self.add_weight(name="beta_logit", shape=(), initializer="zeros")

    @property
    def mu(self):
        return ops.sigmoid(-self.mu_logit)

    @property
    def beta(self):
        return ops.sigmoid(-self.beta_logit)

    def call(self, inputs):
        y, features, seed = inputs
        shape = ops.shape(y)
        nodes = shape[1] * shape[2]
        flat = [ops.reshape(t, (shape[0], nodes, ops.shape(t)[-1])) for t in (y, features, seed)]
        static_nodes = None if y.shape[1] is None or y.shape[2] is None else y.shape[1] * y.shape[2]
        mu, beta = ops.cast(self.mu, y.dtype), ops.cast(self.beta, y.dtype)
        walked = diffusion_step(*flat, mu, beta, chunk_size=chunk_rows(self.chunk_size, static_nodes))
        return ops.reshape(walked, shape)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def diagnostics(self) -> dict:
        label = self.label or self.name
        return {f"difnet_mu/{label}": float(ops.convert_to_numpy(self.mu)),
                f"difnet_beta/{label}": float(ops.convert_to_numpy(self.beta))}

    def get_config(self):
        return {**super().get_config(), "chunk_size": self.chunk_size, "label": self.label}


@register_flop_rule(RandomWalk)
def _random_walk_flops(layer: RandomWalk, call, convention) -> int:
    """f f^T (2 N^2 D per image) and P y (2 N^2 K) as multiply-accumulates; the softmax (exp, sum, divide: 3 N^2)
    and the mixing (5 N K) as elementwise arithmetic (`convention.add`)."""
    batch, height, width, classes = call.output_shapes[0]
    depth = call.input_shapes[1][-1]
    nodes = height * width
    macs = 2 * batch * nodes * nodes * (depth + classes)
    return macs + convention.add * (3 * batch * nodes * nodes + 5 * elements(call.output_shapes[0]))
