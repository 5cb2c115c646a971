"""Whether an op is being traced into an XLA-compiled function (tf.function(jit_compile=True), Keras'
jit_compile), for the ops that must take another path there: the deformable convolution's sampler (CropAndResize
has no XLA kernel) and bilinear resizing (XLA's lowering of ResizeBilinear is wrong for non-integer ratios in
TensorFlow 2.21: `li_seg.ops.resize`)."""

from __future__ import annotations

from tensorflow.python.framework import ops as framework_ops  # the graph being built: no public API
from tensorflow.python.ops import control_flow_util  # GraphOrParentsInXlaContext: no public API


def in_xla_context() -> bool:
    """True while tracing inside an XLA-compiled function (or a function nested in one)."""
    return control_flow_util.GraphOrParentsInXlaContext(framework_ops.get_default_graph())
