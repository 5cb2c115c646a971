"""Procedural scenes of the embedded "synthetic" dataset, in NumPy.

Classes differ by shape and texture, never by colour: every object (and the background) draws its colours from
the same uniform RGB distribution, so a per-pixel colour classifier cannot tell them apart. A scene is a
textured-noise background with 3-7 shapes and 1-3 thin wires drawn in random depth order (so they occlude each
other), under a random illumination ramp and grey pixel noise; the visible boundary of about half the shapes is a
1-pixel band of the ignore label, like the void outlines of VOC objects.

| id | class | shape | texture |
|---|---|---|---|
| 0 | background | everything else | blotchy two-colour value noise |
| 1 | ellipse | rotated ellipse | concentric bands |
| 2 | rectangle | rotated rectangle | stripes |
| 3 | triangle | triangle | checkerboard |
| 4 | star | 4-6 pointed star | dots |
| 5 | ring | annulus 5-9 px thick | speckle (per-pixel random choice of its two colours) |
| 6 | wire | quadratic curve 1-3 px wide | plain |
"""

from __future__ import annotations

import dataclasses

import numpy as np

from li_seg.data.info import IGNORE_LABEL

CLASS_NAMES = ("background", "ellipse", "rectangle", "triangle", "star", "ring", "wire")
PALETTE = (
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
)
BACKGROUND, ELLIPSE, RECTANGLE, TRIANGLE, STAR, RING, WIRE = range(len(CLASS_NAMES))
SHAPES = (ELLIPSE, RECTANGLE, TRIANGLE, STAR, RING)
MIN_SIZE, MAX_SIZE = 112, 160  # image height and width, each drawn uniformly
NOISE_STD = 6.0

# Offsets (dy, dx) stamped at each point of a wire, per width: a pixel, a 2x2 block, a plus.
_WIRE_STAMPS = {1: ((0, 0),), 2: ((0, 0), (0, 1), (1, 0), (1, 1)), 3: ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))}


@dataclasses.dataclass(frozen=True)
class Scene:
    """image: uint8 (H, W, 3); label: uint8 (H, W) class ids or 255; occluded: objects partly hidden by others."""

    image: np.ndarray
    label: np.ndarray
    occluded: int


def _colours(rng: np.random.Generator) -> np.ndarray:
    """Two RGB colours, uniform in the cube and at least 80 apart (so the texture is visible): (2, 3) float32."""
    while True:
        pair = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        if np.linalg.norm(pair[0] - pair[1]) > 80:
            return pair


def _mix(pair: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Colours pair[0] * (1 - t) + pair[1] * t for t (h, w) in [0, 1]: (3, h, w), channels first (internally
    images are channels-first: NumPy broadcasts far faster over long rows than over a last axis of 3)."""
    return pair[0, :, None, None] + (pair[1] - pair[0])[:, None, None] * t


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """A random grid with `cell`-pixel spacing, bilinearly interpolated: (height, width) float32 in [0, 1]."""
    grid = rng.random((int(height / cell) + 2, int(width / cell) + 2), dtype=np.float32)
    for axis, size in ((0, height), (1, width)):
        position = np.arange(size, dtype=np.float32) / cell
        low = position.astype(int)
        weight = np.expand_dims(position - low, 1 - axis)
        grid = np.take(grid, low, axis) * (1 - weight) + np.take(grid, low + 1, axis) * weight
    return grid


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Blotchy two-colour noise at two scales: (3, H, W) float32."""
    t = 0.7 * _value_noise(rng, height, width, rng.uniform(12, 28)) + 0.3 * _value_noise(
        rng, height, width, rng.uniform(3, 6)
    )
    t = (t - t.min()) / (t.max() - t.min())
    return _mix(_colours(rng), t)


def _frame(rng, centre, radius, height, width):
    """The object's bounding box (slices) clipped to the image (`centre` lies in the image), and the coordinates
    (u, v) of its pixels relative to `centre`, rotated by a random angle."""
    y0, x0 = (max(int(np.floor(c - radius)), 0) for c in centre)
    y1, x1 = min(int(np.ceil(centre[0] + radius)) + 1, height), min(int(np.ceil(centre[1] + radius)) + 1, width)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(centre[0])
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(centre[1])
    angle = rng.uniform(0, np.pi)
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    return (slice(y0, y1), slice(x0, x1)), u, v


def _shape(rng: np.random.Generator, kind: int, height: int, width: int):
    """One shape centred in the image: (box slices, mask (h, w) bool, colours (3, h, w)) within the box."""
    centre = (rng.uniform(0, height), rng.uniform(0, width))
    pair = _colours(rng)
    if kind == ELLIPSE:
        radii = rng.uniform(9, 28, 2)
        box, u, v = _frame(rng, centre, radii.max(), height, width)
        distance = np.sqrt((u / radii[0]) ** 2 + (v / radii[1]) ** 2)
        bands = np.floor(distance * rng.uniform(2.5, 5)) % 2
        return box, distance <= 1, _mix(pair, bands)
    if kind == RECTANGLE:
        half = rng.uniform(7, 24, 2)
        box, u, v = _frame(rng, centre, np.hypot(*half), height, width)
        period = rng.uniform(4, 9)
        stripes = np.floor((u * 0.6 + v * 0.8) / (period / 2)) % 2
        return box, (np.abs(u) <= half[0]) & (np.abs(v) <= half[1]), _mix(pair, stripes)
    if kind == TRIANGLE:
        radius = rng.uniform(13, 30)
        box, u, v = _frame(rng, centre, radius, height, width)
        angles = np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.35, 0.35, 3)
        corners = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        inside = np.ones(u.shape, bool)
        for (ax, ay), (bx, by) in zip(corners, np.roll(corners, -1, axis=0)):
            inside &= (bx - ax) * (v - ay) - (by - ay) * (u - ax) >= 0
        period = rng.uniform(3, 7)
        checker = (np.floor(u / period) + np.floor(v / period)) % 2
        return box, inside, _mix(pair, checker)
    if kind == STAR:
        radius, points = rng.uniform(14, 30), rng.integers(4, 7)
        box, u, v = _frame(rng, centre, radius, height, width)
        phase = (np.arctan2(v, u) * points / (2 * np.pi)) % 1
        outline = radius * (1 - 0.5 * np.abs(2 * phase - 1))
        period = rng.uniform(5, 8)
        dots = np.hypot(u % period - period / 2, v % period - period / 2) < 0.3 * period
        return box, np.hypot(u, v) <= outline, _mix(pair, dots.astype(np.float32))
    radius, thickness = rng.uniform(12, 27), rng.uniform(5, 9)  # RING
    box, u, v = _frame(rng, centre, radius, height, width)
    distance = np.hypot(u, v)
    speckle = (rng.random(u.shape, dtype=np.float32) < 0.5).astype(np.float32)
    return box, (distance <= radius) & (distance >= radius - thickness), _mix(pair, speckle)


def _wire(rng: np.random.Generator, height: int, width: int):
    """A gently bent quadratic Bezier curve 1-3 px wide across the image (its control point lies off the chord's
    middle by at most half the chord, so it never folds back on itself): (box slices, mask, plain colour), or
    None if it misses the image."""
    start, end = rng.uniform(-0.1, 1.1, (2, 2)) * (height, width)
    chord = end - start
    control = (start + end) / 2 + rng.uniform(-0.5, 0.5) * np.array([-chord[1], chord[0]])
    steps = int(3 * (np.linalg.norm(control - start) + np.linalg.norm(end - control))) + 2
    t = np.linspace(0, 1, steps)[:, None]
    points = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
    wire_width = int(rng.integers(1, 4))
    points = (np.floor(points) if wire_width == 2 else np.round(points)).astype(int)
    pixels = np.concatenate([points + offset for offset in _WIRE_STAMPS[wire_width]])
    pixels = pixels[(pixels[:, 0] >= 0) & (pixels[:, 0] < height) & (pixels[:, 1] >= 0) & (pixels[:, 1] < width)]
    if not len(pixels):
        return None
    low, high = pixels.min(axis=0), pixels.max(axis=0) + 1
    mask = np.zeros(high - low, bool)
    mask[pixels[:, 0] - low[0], pixels[:, 1] - low[1]] = True
    colour = np.broadcast_to(_colours(rng)[0, :, None, None], (3, *mask.shape))
    return (slice(low[0], high[0]), slice(low[1], high[1])), mask, colour


def _inner_boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` with a 4-neighbour outside it (the image border does not count as outside)."""
    padded = np.pad(mask, 1, mode="edge")
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def make_scene(rng: np.random.Generator) -> Scene:
    """One random scene; its size, objects and noise all come from `rng`."""
    height, width = (int(s) for s in rng.integers(MIN_SIZE, MAX_SIZE + 1, 2))
    image = _background(rng, height, width)
    label = np.full((height, width), BACKGROUND, np.uint8)
    owner = np.full((height, width), -1, np.int32)  # which object each pixel shows
    kinds = [int(k) for k in rng.choice(SHAPES, rng.integers(3, 8))] + [WIRE] * int(rng.integers(1, 4))
    drawn_objects = []
    for index, kind in enumerate(rng.permutation(kinds)):
        drawn = _wire(rng, height, width) if kind == WIRE else _shape(rng, kind, height, width)
        if drawn is None:
            continue
        box, mask, colours = drawn
        image[(slice(None), *box)][:, mask] = colours[:, mask]
        label[box][mask] = kind
        owner[box][mask] = index
        drawn_objects.append((index, kind, box, int(mask.sum())))

    visible_area = np.bincount(owner.ravel() + 1, minlength=len(kinds) + 1)[1:]
    occluded = sum(int(visible_area[index] < area) for index, _, _, area in drawn_objects)
    for index, kind, box, _ in drawn_objects:
        if kind != WIRE and rng.random() < 0.5:
            label[box][_inner_boundary(owner[box] == index)] = IGNORE_LABEL

    ys = np.arange(height, dtype=np.float32)[:, None] / height
    xs = np.arange(width, dtype=np.float32)[None, :] / width
    ramp_angle = rng.uniform(0, 2 * np.pi)
    ramp = np.float32(np.cos(ramp_angle)) * xs + np.float32(np.sin(ramp_angle)) * ys
    gain = 1 + np.float32(rng.uniform(0.1, 0.3)) * (ramp - ramp.mean())
    grain = NOISE_STD * rng.standard_normal((height, width), dtype=np.float32)
    image *= gain
    image += grain
    np.clip(image, 0, 255, out=image)
    image = np.rint(image, out=image).transpose(1, 2, 0).astype(np.uint8, order="C")
    return Scene(image=image, label=label, occluded=occluded)
