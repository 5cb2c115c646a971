"""One random walk of DifNet (Jiang et al., NeurIPS 2018, Eq. 4-5), with or without the N x N transition matrix.

    A = f f^T,   P = row-softmax(A),   y' = beta * (mu * P y + (1 - mu) * s) + (1 - beta) * y

y and the seed s are (B, N, K) score vectors of N nodes, f (B, N, D) their features (DifNet's Psi(f_t)); mu and
beta scalars. P y is softmax attention with queries = keys = f and values = y.

Without `chunk_size` P is built whole: (B, N, N) floats in the forward pass and again in the backward pass (71 MB
per image for DifNet's 65 x 65 = 4,225 nodes at a 513 crop). With `chunk_size` P y is computed `chunk_size` rows
at a time, each row's softmax stabilised by its own maximum, and a hand-written gradient recomputes each chunk's
rows instead of keeping them: neither pass ever holds more than (B, chunk_size, N) of P. The backward pass of a
chunk of rows i (G = dL/d(P y)):

    dP_i. = G_i y^T,   dA_i. = P_i. * (dP_i. - <G_i, (P y)_i>)      (softmax backward; sum_j P_ij dP_ij = G_i . (P y)_i)
    dy   += P_i.^T G_i,   df_i += dA_i. f,   df += dA_i.^T f_i      (A = f f^T: each entry reaches f twice)

(P y)_i is the forward's output, kept (B, N, K); the chunks' P rows are recomputed. mu, beta, s and the mixing are
differentiated automatically around P y.
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf


def _transition_rows(queries, keys):
    """The rows of P for `queries`: softmax(queries keys^T), each row stabilised by its maximum (B, c, N)."""
    return tf.nn.softmax(tf.matmul(queries, keys, transpose_b=True), axis=-1)


def _chunked_attention(features, values, chunk_size: int):
    """P y for P = row-softmax(f f^T), `chunk_size` rows at a time, with the gradient of the module docstring. The
    queries are zero-padded to a whole number of chunks (keys are not: padded rows see every real node and are
    dropped; their upstream gradient is zero, so they add nothing to the gradients)."""

    @tf.custom_gradient
    def attention(f, y):
        batch, nodes = tf.shape(f)[0], tf.shape(f)[1]
        chunks = (nodes + chunk_size - 1) // chunk_size
        padding = [[0, 0], [0, chunks * chunk_size - nodes], [0, 0]]

        def by_chunk(t):
            """(B, N, C) -> (chunks, B, chunk_size, C), zero-padded rows."""
            padded = tf.pad(t, padding)
            return tf.transpose(tf.reshape(padded, [batch, chunks, chunk_size, tf.shape(t)[2]]), [1, 0, 2, 3])

        def by_node(t):
            """(chunks, B, chunk_size, C) -> (B, N, C)."""
            t = tf.reshape(tf.transpose(t, [1, 0, 2, 3]), [batch, chunks * chunk_size, tf.shape(t)[3]])
            return t[:, :nodes]

        query_chunks = by_chunk(f)
        # parallel_iterations=1: in a graph, map_fn and while_loop otherwise run up to 10 chunks at once, holding
        # that many chunks of P.
        result_chunks = tf.map_fn(lambda rows: tf.matmul(_transition_rows(rows, f), y), query_chunks,
                                  fn_output_signature=y.dtype, parallel_iterations=1)
        result = by_node(result_chunks)

        def gradient(upstream):
            upstream_chunks = by_chunk(upstream)

            def step(index, d_f, d_y, row_parts):
                rows, g, out = query_chunks[index], upstream_chunks[index], result_chunks[index]
                p = _transition_rows(rows, f)  # recomputed: (B, c, N)
                d_p = tf.matmul(g, y, transpose_b=True)
                d_a = p * (d_p - tf.reduce_sum(g * out, axis=-1, keepdims=True))
                d_y += tf.matmul(p, g, transpose_a=True)
                d_f += tf.matmul(d_a, rows, transpose_a=True)  # as keys: df_j += sum_i dA_ij f_i
                row_parts = row_parts.write(index, tf.matmul(d_a, f))  # as queries: df_i += sum_j dA_ij f_j
                return index + 1, d_f, d_y, row_parts

            _, d_f, d_y, row_parts = tf.while_loop(
                lambda index, *_: index < chunks, step,
                (tf.constant(0), tf.zeros_like(f), tf.zeros_like(y), tf.TensorArray(f.dtype, size=chunks)),
                parallel_iterations=1,
            )
            return d_f + by_node(row_parts.stack()), d_y

        return result, gradient

    return attention(features, values)


def diffusion_step(y, features, seed, mu, beta, chunk_size: Optional[int] = None):
    """beta * (mu * P y + (1 - mu) * seed) + (1 - beta) * y with P = row-softmax(features features^T) (module
    docstring); y, seed (B, N, K), features (B, N, D), mu and beta scalars (tensors or floats). `chunk_size`: rows
    of P per step (never the whole P, in either pass); None builds P whole."""
    if chunk_size is None:
        propagated = tf.matmul(_transition_rows(features, features), y)
    else:
        if int(chunk_size) < 1:
            raise ValueError(f"diffusion_step: chunk_size must be a positive number of rows, got {chunk_size}")
        propagated = _chunked_attention(features, y, int(chunk_size))
    return beta * (mu * propagated + (1.0 - mu) * seed) + (1.0 - beta) * y


def transition_rows(features, nodes) -> tf.Tensor:
    """Rows `nodes` of P = row-softmax(f f^T) without building P: features (B, N, D), nodes int (R,) node indices
    in [0, N) -> (B, R, N), each row summing to 1 (DifNet's Fig. 3: where a pixel's score flows from).
    InvalidArgumentError naming the range for an index outside it."""
    features = tf.convert_to_tensor(features)
    nodes = tf.convert_to_tensor(nodes, tf.int32)
    count = tf.shape(features)[1]
    checks = [tf.debugging.assert_non_negative(nodes, message="transition_rows: node indices must be >= 0"),
              tf.debugging.assert_less(nodes, count, message="transition_rows: node indices must be < N, the "
                                                             "number of nodes")]
    with tf.control_dependencies(checks):
        return _transition_rows(tf.gather(features, nodes, axis=1), features)
