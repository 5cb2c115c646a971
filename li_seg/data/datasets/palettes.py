"""Colour palettes for visualising label maps."""

from __future__ import annotations


def voc_colormap(count: int = 256) -> tuple[tuple[int, int, int], ...]:
    """The standard VOC colormap (VOCdevkit's labelcolormap.m): bit b of index i sets bit 7 - b // 3 of channel
    b % 3 (R, G, B), so 0 -> black, 1 -> (128, 0, 0), ..., 255 (void) -> (224, 224, 192). Its first 21 colours
    are VOC's class colours."""
    colours = []
    for index in range(count):
        colour = [0, 0, 0]
        for bit in range(8):
            colour[bit % 3] |= ((index >> bit) & 1) << (7 - bit // 3)
        colours.append(tuple(colour))
    return tuple(colours)
