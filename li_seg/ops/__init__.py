"""Pure tensor functions the layers call (no variables): DCNv2's modulated deformable convolution, DifNet's random
walk."""

from li_seg.ops.deform_conv import modulated_deform_conv2d
from li_seg.ops.diffusion import diffusion_step

__all__ = ["diffusion_step", "modulated_deform_conv2d"]
