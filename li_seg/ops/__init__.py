"""Pure tensor functions the layers call (no variables): DCNv2's modulated deformable convolution."""

from li_seg.ops.deform_conv import modulated_deform_conv2d

__all__ = ["modulated_deform_conv2d"]
