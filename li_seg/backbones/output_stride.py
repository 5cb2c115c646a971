"""research/deeplab's rule for reaching an output stride with atrous convolution.

Both backbones apply it to their sequence of layer strides (research/deeplab: mobilenet_base for MobileNetV2,
resnet_utils.stack_blocks_dense for ResNet): once the stride so far equals the target output stride, a layer
that would have stride s runs with stride 1 at the current atrous rate, and the rate is multiplied by s for the
layers after it. So at OS 16 MobileNetV2's RB14 (block_13) keeps rate 1 with stride 1 and RB15-17 get rate 2.
"""

from __future__ import annotations

from typing import Sequence

OUTPUT_STRIDES = (8, 16, 32)


def atrous_schedule(strides: Sequence[int], output_stride: int, current_stride: int = 1) -> list[tuple[int, int]]:
    """The (stride, rate) of each layer whose nominal stride is `strides[i]`, starting at `current_stride`.

    Raises ValueError when the layers cannot reach `output_stride` exactly.
    """
    schedule = []
    rate = 1
    for stride in strides:
        if current_stride == output_stride:
            schedule.append((1, rate))
            rate *= stride
        else:
            schedule.append((stride, 1))
            current_stride *= stride
    if current_stride != output_stride:
        raise ValueError(f"output_stride {output_stride} cannot be reached (the layers give {current_stride}).")
    return schedule
