"""The diffusion benchmark's problem: DifNet's five cascaded random walks (`li_seg.ops.diffusion_step`, y_1 = s,
y_{t+1} = walk_t(y_t)) with P_t built whole ("materialised") or `chunk_size` rows at a time ("chunked"), timed by
`scripts/benchmark.py --measure=diffusion` and measured for peak memory in a fresh process each (`peak_memory`).
"""

from __future__ import annotations

import tensorflow as tf

from li_seg.ops import diffusion_step

KINDS = ("materialised", "chunked")
WALKS = 5


def problem(kind: str, batch_size: int, side: int, classes: int, depth: int, chunk_size: int) -> tuple:
    """(function, inputs, projection): five walks over side x side nodes, `classes` scores and `depth` features per
    node (DifNet: 65 x 65 at a 513 crop, 21 classes, 64 features), one feature map per walk, mu = beta = 0.5;
    gradients of every input. Float32, seed 0."""
    tf.random.set_seed(0)
    nodes = side * side
    seed = tf.random.normal((batch_size, nodes, classes))
    features = [tf.random.normal((batch_size, nodes, depth)) for _ in range(WALKS)]
    mixing = tf.fill((2, WALKS), 0.5)
    projection = tf.random.normal((batch_size, nodes, classes))
    chunk = chunk_size if kind == "chunked" else None

    def walks(seed, mixing, *features):
        y = seed
        for t, f in enumerate(features):
            y = diffusion_step(y, f, seed, mixing[0, t], mixing[1, t], chunk_size=chunk)
        return y

    return walks, [seed, mixing, *features], projection
