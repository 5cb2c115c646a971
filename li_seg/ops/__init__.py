"""Pure tensor functions the layers call (no variables): DCNv2's modulated deformable convolution, DifNet's random
walk and its adaptive max pooling to a run-time size, and bilinear resizing that XLA compiles right."""

from li_seg.ops.adaptive_pooling import adaptive_max_pool2d
from li_seg.ops.deform_conv import modulated_deform_conv2d
from li_seg.ops.diffusion import diffusion_step, transition_rows
from li_seg.ops.resize import bilinear_resize

__all__ = ["adaptive_max_pool2d", "bilinear_resize", "diffusion_step", "modulated_deform_conv2d", "transition_rows"]
