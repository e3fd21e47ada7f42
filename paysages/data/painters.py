"""Scene painters of the sample dataset: one synthetic landscape per call, drawn with Pillow.

Each scene is drawn with Pillow and NumPy: a sky (clear, overcast, sunset or hazy, with clouds and
sometimes a sun), then class-specific structure with random colours, positions and lighting, then
noise and a slight blur. Some scenes are confusable on purpose (lakes with a distant flat shore
look like the ocean, roads through fields look like fields, mountains above a lake look like a
lake), so that a network trained on them makes instructive mistakes.

:func:`render_scene` is the entry point; everything it draws comes from the random generator it
is given, so the same generator state always gives the same picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from paysages.validation import check_integer


MINIMUM_IMAGE_SIZE = 32

# Scenes are drawn at twice the output size, then reduced: a cheap anti-aliasing.
_SUPERSAMPLE = 2

_SUPERSAMPLE_MAX_SIZE = 320


def _rgb(values) -> tuple[int, int, int]:
    red, green, blue = (min(255, max(0, round(float(value)))) for value in values)
    return (red, green, blue)


def _vary(rng: np.random.Generator, colour, spread: float) -> tuple[int, int, int]:
    """Return ``colour`` with Gaussian jitter of ``spread`` on each channel."""
    return _rgb(np.asarray(colour, dtype=float) + rng.normal(0.0, spread, 3))


def _mix(first, second, amount: float) -> tuple[int, int, int]:
    """Return the colour ``amount`` of the way from ``first`` to ``second``."""
    first = np.asarray(first, dtype=float)
    return _rgb(first + (np.asarray(second, dtype=float) - first) * amount)


def _scale(colour, factor: float) -> tuple[int, int, int]:
    return _rgb(np.asarray(colour, dtype=float) * factor)


def _pick(rng: np.random.Generator, weighted: dict):
    """Return one key of ``weighted`` with probability proportional to its value."""
    keys = list(weighted)
    weights = np.asarray([weighted[key] for key in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def _gradient(height: int, width: int, top, bottom, power: float = 1.0) -> np.ndarray:
    """Return a (height, width, 3) float array going from ``top`` to ``bottom``."""
    steps = np.linspace(0.0, 1.0, max(height, 1)) ** power
    top = np.asarray(top, dtype=float)
    column = top[None, :] + (np.asarray(bottom, dtype=float) - top)[None, :] * steps[:, None]
    return np.repeat(column[:, None, :], width, axis=1)


def _to_image(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), "RGB")


def _to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=float).copy()


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Moving average of a 1-D array (same length)."""
    width = max(int(width), 1)
    if width == 1:
        return values
    kernel = np.ones(width) / width
    padded = np.pad(values, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _sky_palette(rng: np.random.Generator, night: bool = False) -> dict:
    """Choose the sky of a scene: its kind, top colour and horizon colour."""
    if night:
        return {
            "kind": "night",
            "top": _vary(rng, (12, 16, 42), 6),
            "horizon": _vary(rng, (60, 60, 95), 12),
        }
    kind = _pick(rng, {"clear": 0.5, "overcast": 0.25, "sunset": 0.13, "hazy": 0.12})
    if kind == "clear":
        top, horizon = _vary(rng, (55, 115, 205), 18), _vary(rng, (185, 210, 235), 12)
    elif kind == "overcast":
        grey = rng.uniform(135, 200)
        top = _vary(rng, (grey - 12, grey - 6, grey + 4), 5)
        horizon = _vary(rng, (grey + 25, grey + 25, grey + 28), 5)
    elif kind == "sunset":
        top, horizon = _vary(rng, (70, 75, 145), 15), _vary(rng, (245, 160, 95), 15)
    else:
        top, horizon = _vary(rng, (150, 180, 210), 12), _vary(rng, (225, 225, 215), 8)
    return {"kind": kind, "top": top, "horizon": horizon}


def _sky_array(size: int, horizon: int, palette: dict) -> np.ndarray:
    """Return a full canvas filled with the sky gradient (constant below the horizon)."""
    horizon = int(np.clip(horizon, 1, size))
    array = np.empty((size, size, 3), dtype=float)
    array[:horizon] = _gradient(horizon, size, palette["top"], palette["horizon"], power=0.8)
    array[horizon:] = np.asarray(palette["horizon"], dtype=float)
    return array


def _add_sky_details(image: Image.Image, rng: np.random.Generator, palette: dict, horizon: int):
    """Draw clouds and maybe a sun above ``horizon``; return (image, sun position or None)."""
    size = image.width
    kind = palette["kind"]
    if kind == "overcast":
        cloud_colour = palette["top"]
    else:
        cloud_colour = _mix(palette["horizon"], (255, 255, 255), 0.7)
    # Clouds are soft: draw them at a quarter of the size, blur, then enlarge (much faster).
    # Transparent pixels carry the cloud colour so that the blur leaves no dark fringe.
    small = max(size // 4, 8)
    shrink = small / size
    layer = Image.new("RGBA", (small, small), cloud_colour + (0,))
    draw = ImageDraw.Draw(layer)

    def ellipse(centre_x: float, centre_y: float, radius_x: float, radius_y: float, fill) -> None:
        box = (centre_x - radius_x, centre_y - radius_y, centre_x + radius_x, centre_y + radius_y)
        draw.ellipse(tuple(value * shrink for value in box), fill=fill)

    sun = None
    if kind in ("clear", "sunset", "hazy") and rng.random() < 0.35:
        sun_x = rng.uniform(0.1, 0.9) * size
        sun_y = rng.uniform(0.1, 0.85) * horizon
        radius = rng.uniform(0.025, 0.05) * size
        glow = radius * 3.0
        ellipse(sun_x, sun_y, glow, glow, (255, 240, 200, 90))
        sun = (sun_x, sun_y, radius)
    if kind == "night":
        cloud_count = 0
    elif kind == "overcast":
        cloud_count = int(rng.integers(3, 9))
    else:
        cloud_count = int(rng.integers(0, 5))
    for _ in range(cloud_count):
        centre_x = rng.uniform(-0.1, 1.1) * size
        centre_y = rng.uniform(0.05, 0.85) * horizon
        width = rng.uniform(0.1, 0.35) * size
        height = width * rng.uniform(0.2, 0.45)
        colour = _vary(rng, cloud_colour, 10)
        alpha = int(rng.uniform(120, 230))
        for _ in range(int(rng.integers(3, 7))):
            x = centre_x + rng.uniform(-0.5, 0.5) * width
            y = centre_y + rng.uniform(-0.3, 0.3) * height
            radius_x = width * rng.uniform(0.2, 0.45)
            radius_y = height * rng.uniform(0.4, 0.8)
            ellipse(x, y, radius_x, radius_y, colour + (alpha,))
    if sun is None and cloud_count == 0:
        return image, None
    layer = layer.filter(ImageFilter.GaussianBlur(small * 0.012)).resize(
        image.size, Image.Resampling.BILINEAR
    )
    image = Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")
    if sun is not None:
        sun_x, sun_y, radius = sun
        ImageDraw.Draw(image).ellipse(
            (sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius), fill=(255, 248, 225)
        )
    return image, sun


def _sky(rng: np.random.Generator, size: int, horizon: int, palette: dict):
    """Return (canvas array with sky, clouds and sun, sun position or None); paint the ground over it."""
    image, sun = _add_sky_details(_to_image(_sky_array(size, horizon, palette)), rng, palette, horizon)
    return _to_array(image), sun


def _ridge_profile(
    rng: np.random.Generator, size: int, base: float, top: float, jaggedness: float
) -> np.ndarray:
    """Return, for each column, the y of a mountain ridge whose highest peak reaches ``top``."""
    columns = np.arange(size, dtype=float)
    profile = np.full(size, float(base))
    for index in range(int(rng.integers(2, 6))):
        peak_x = rng.uniform(0.1, 0.9) * size if index == 0 else rng.uniform(-0.2, 1.2) * size
        peak_y = top if index == 0 else rng.uniform(top, top + 0.7 * (base - top))
        slope = rng.uniform(0.5, 1.8)
        profile = np.minimum(profile, peak_y + slope * np.abs(columns - peak_x))
    walk = np.cumsum(rng.normal(0.0, 0.03 * jaggedness * np.sqrt(size), size))
    walk -= np.linspace(walk[0], walk[-1], size)
    profile = profile + walk + rng.normal(0.0, 0.003 * size * jaggedness, size)
    return np.clip(profile, 0.0, base)


def _paint_ridge(
    array: np.ndarray,
    rng: np.random.Generator,
    profile: np.ndarray,
    colour,
    bottom: int,
    snow_colour=None,
    snow_depth: float = 0.0,
) -> None:
    """Fill the area under ``profile`` (down to ``bottom``) with lit and shaded rock, maybe snow."""
    size = array.shape[1]
    first_row = int(max(np.floor(profile.min()), 0))
    if first_row >= bottom:
        return
    # Work only on the band of rows the ridge can cover.
    rows = np.arange(first_row, bottom, dtype=float)[:, None]
    mask = rows >= profile[None, :]
    # Faces turned towards the light are brighter: light comes from the left or the right.
    slope = _smooth(np.gradient(profile), max(size // 40, 1))
    light_side = 1.0 if rng.random() < 0.5 else -1.0
    contrast = rng.uniform(0.12, 0.3)
    lighting = 1.0 + contrast * np.tanh(2.0 * light_side * slope)
    streaks = 1.0 + _smooth(rng.normal(0.0, 0.05, size), max(size // 60, 2))
    depth = np.clip((rows - profile[None, :]) / max(bottom - profile.min(), 1.0), 0.0, 1.0)
    shade = (lighting * streaks)[None, :] * (1.0 - 0.25 * depth)
    band = array[first_row:bottom]
    band[mask] = np.asarray(colour, dtype=float)[None, :] * shade[mask][:, None]
    if snow_colour is not None and snow_depth > 0:
        snow_line = profile.min() + snow_depth + np.cumsum(rng.normal(0.0, 0.004 * size, size))
        snow_line = np.minimum(snow_line, profile + snow_depth * 1.5)
        snowy = mask & (rows < snow_line[None, :])
        snow_shade = np.broadcast_to((0.75 + 0.25 * lighting)[None, :], snowy.shape)[snowy]
        band[snowy] = np.asarray(snow_colour, dtype=float)[None, :] * snow_shade[:, None]


def _draw_conifer(
    draw: ImageDraw.ImageDraw, x: float, base: float, height: float, colour, trunk_colour
) -> None:
    width = height * 0.42
    draw.rectangle((x - width * 0.06, base - height * 0.2, x + width * 0.06, base), fill=trunk_colour)
    tiers = 3
    for tier in range(tiers):
        tier_bottom = base - height * (0.12 + 0.26 * tier)
        tier_top = tier_bottom - height * 0.5
        tier_width = width * (1.0 - 0.25 * tier)
        draw.polygon(
            [
                (x - tier_width / 2, tier_bottom),
                (x + tier_width / 2, tier_bottom),
                (x, max(tier_top, base - height)),
            ],
            fill=_scale(colour, 1.0 + 0.08 * tier),
        )


def _draw_round_tree(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    x: float,
    base: float,
    height: float,
    colour,
    trunk_colour,
) -> None:
    trunk_width = height * 0.07
    draw.rectangle((x - trunk_width, base - height * 0.45, x + trunk_width, base), fill=trunk_colour)
    crown_radius = height * 0.3
    crown_y = base - height * 0.65
    for _ in range(int(rng.integers(3, 6))):
        blob_x = x + rng.uniform(-0.5, 0.5) * crown_radius
        blob_y = crown_y + rng.uniform(-0.4, 0.3) * crown_radius
        radius = crown_radius * rng.uniform(0.55, 0.85)
        draw.ellipse(
            (blob_x - radius, blob_y - radius, blob_x + radius, blob_y + radius),
            fill=_vary(rng, colour, 8),
        )


def _draw_treeline(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    size: int,
    base: float,
    height: float,
    colour,
    conifer_share: float,
) -> None:
    """Draw a continuous band of small trees standing on the line y = ``base``."""
    draw.rectangle((0, base - height * 0.35, size, base + 1), fill=_scale(colour, 0.9))
    x = -height
    while x < size + height:
        tree_height = height * rng.uniform(0.6, 1.2)
        tree_colour = _vary(rng, colour, 7)
        if rng.random() < conifer_share:
            draw.polygon(
                [(x - tree_height * 0.22, base), (x + tree_height * 0.22, base), (x, base - tree_height)],
                fill=tree_colour,
            )
        else:
            radius = tree_height * 0.4
            draw.ellipse(
                (x - radius, base - tree_height, x + radius, base - tree_height + 2 * radius),
                fill=tree_colour,
            )
        x += height * rng.uniform(0.2, 0.45)


def _reflect(
    array: np.ndarray, rng: np.random.Generator, water_line: int, water_colour, mirror: float, ripple: float
) -> None:
    """Turn everything below ``water_line`` into water reflecting what stands above it."""
    size_y, size_x = array.shape[:2]
    water_rows = size_y - water_line
    if water_rows <= 0:
        return
    source_rows = water_line - 1 - np.minimum(np.arange(water_rows), water_line - 1)
    reflection = array[source_rows]
    # Ripples: each row of the reflection is shifted sideways a little, more near the viewer.
    depth = (np.arange(water_rows) + 1.0) / water_rows
    shifts = np.rint(_smooth(rng.normal(0.0, 1.0, water_rows), 2) * ripple * size_x * (0.2 + depth)).astype(
        int
    )
    columns = (np.arange(size_x)[None, :] + shifts[:, None]) % size_x
    reflection = reflection[np.arange(water_rows)[:, None], columns]
    streaks = 1.0 + _smooth(rng.normal(0.0, 0.06, water_rows), 2)[:, None, None]
    water = mirror * reflection * 0.85 + (1.0 - mirror) * np.asarray(water_colour, dtype=float)
    array[water_line:] = water * streaks


def _paint_ocean(rng: np.random.Generator, size: int) -> Image.Image:
    horizon = int(size * rng.uniform(0.3, 0.6))
    palette = _sky_palette(rng)
    array, sun = _sky(rng, size, horizon, palette)
    sea_rows = size - horizon
    deep = _vary(rng, _pick(rng, {(20, 60, 110): 0.5, (20, 85, 105): 0.3, (45, 70, 90): 0.2}), 12)
    if palette["kind"] == "overcast":
        deep = _mix(deep, palette["top"], 0.4)
    far = _mix(deep, palette["horizon"], rng.uniform(0.25, 0.55))
    sea = _gradient(sea_rows, size, far, deep, power=0.6)
    # Swell: bright and dark bands that crowd together towards the horizon.
    depth = (np.arange(sea_rows, dtype=float)[:, None] + 1.0) / sea_rows
    calm = rng.random() < 0.25
    amplitude = rng.uniform(0.01, 0.04) if calm else rng.uniform(0.05, 0.13)
    frequency = rng.uniform(3.0, 8.0)
    tilt = rng.uniform(-3.0, 3.0) * np.arange(size, dtype=float)[None, :] / size
    swell = np.sin(frequency / (depth + 0.08) + tilt + rng.uniform(0.0, 2 * np.pi))
    array[horizon:] = sea * (1.0 + amplitude * swell)[:, :, None]
    image = _to_image(array)

    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    foam = _mix(palette["horizon"], (255, 255, 255), 0.6)
    wave_count = int(rng.integers(5, 25)) if calm else int(rng.integers(40, 140))
    for _ in range(wave_count):
        near = rng.random()
        y = horizon + sea_rows * near**1.4
        scale = 0.15 + near
        length = size * rng.uniform(0.02, 0.07) * scale
        thickness = max(1.0, size * 0.006 * scale)
        x = rng.uniform(-0.05, 1.05) * size
        draw.ellipse(
            (x - length / 2, y - thickness / 2, x + length / 2, y + thickness / 2),
            fill=foam + (int(rng.uniform(80, 210)),),
        )
    if sun is not None and sun[1] < horizon:
        # Glitter on the water under the sun.
        for _ in range(int(rng.integers(20, 60))):
            near = rng.random()
            y = horizon + sea_rows * near**1.5
            x = sun[0] + rng.normal(0.0, size * (0.02 + 0.08 * near))
            radius = max(1.0, size * 0.004 * (0.5 + near))
            draw.ellipse(
                (x - 2 * radius, y - radius / 2, x + 2 * radius, y + radius / 2), fill=(255, 245, 215, 220)
            )
    image = Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")
    draw = ImageDraw.Draw(image)

    if rng.random() < 0.1:
        # A distant ship on the horizon.
        ship_x = rng.uniform(0.1, 0.9) * size
        ship_width = size * rng.uniform(0.02, 0.05)
        draw.rectangle(
            (ship_x, horizon - ship_width * 0.3, ship_x + ship_width, horizon),
            fill=_vary(rng, (60, 60, 70), 10),
        )
    if rng.random() < 0.35:
        # A beach in the foreground with a line of foam.
        sand = _vary(rng, (212, 192, 150), 14)
        edge = size * rng.uniform(0.78, 0.93)
        columns = np.linspace(0, size, 24)
        wobble = edge + size * 0.02 * np.sin(columns / size * rng.uniform(3, 9) + rng.uniform(0, 6))
        outline = list(zip(columns, wobble))
        draw.polygon(outline + [(size, size), (0, size)], fill=sand)
        draw.line(outline, fill=_mix(foam, (255, 255, 255), 0.5), width=max(2, size // 60))
    if rng.random() < 0.15:
        # Rocks at one side.
        side = 0.0 if rng.random() < 0.5 else 1.0
        rock = _vary(rng, (70, 65, 60), 12)
        for _ in range(int(rng.integers(1, 4))):
            x = (side + rng.uniform(-0.05, 0.15) * (1 - 2 * side)) * size
            y = horizon + sea_rows * rng.uniform(0.3, 0.9)
            radius = size * rng.uniform(0.04, 0.12)
            draw.polygon(
                [
                    (x - radius, y + radius * 0.3),
                    (x - radius * 0.4, y - radius * 0.6),
                    (x + radius * 0.3, y - radius * 0.7),
                    (x + radius, y + radius * 0.3),
                ],
                fill=_vary(rng, rock, 8),
            )
    return image


def _paint_lake(rng: np.random.Generator, size: int) -> Image.Image:
    water_line = int(size * rng.uniform(0.38, 0.64))
    palette = _sky_palette(rng)
    array, _ = _sky(rng, size, water_line, palette)
    shore = _pick(rng, {"trees": 0.42, "hills": 0.22, "mountains": 0.16, "flat": 0.2})
    if shore == "mountains":
        ridge_colour = _mix(_vary(rng, (105, 105, 115), 15), palette["horizon"], rng.uniform(0.2, 0.5))
        top = water_line - size * rng.uniform(0.15, 0.35)
        profile = _ridge_profile(rng, size, water_line, top, rng.uniform(0.5, 1.5))
        snow = _vary(rng, (240, 242, 248), 5) if rng.random() < 0.5 else None
        _paint_ridge(array, rng, profile, ridge_colour, water_line, snow, size * rng.uniform(0.03, 0.08))
    elif shore == "hills":
        columns = np.arange(size, dtype=float)
        height = size * rng.uniform(0.05, 0.18)
        profile = water_line - height * (
            0.6
            + 0.25 * np.sin(columns / size * rng.uniform(2, 6) + rng.uniform(0, 6))
            + 0.15 * np.sin(columns / size * rng.uniform(8, 15) + rng.uniform(0, 6))
        )
        hill_colour = _mix(_vary(rng, (70, 110, 60), 15), palette["horizon"], rng.uniform(0.1, 0.45))
        rows = np.arange(size, dtype=float)[:, None]
        mask = (rows >= profile[None, :]) & (rows < water_line)
        array[mask] = np.asarray(hill_colour, dtype=float)
    image = _to_image(array)
    draw = ImageDraw.Draw(image)
    tree_colour = _mix(_vary(rng, (40, 75, 45), 12), palette["horizon"], rng.uniform(0.05, 0.35))
    if shore in ("trees", "mountains", "hills"):
        height = size * (rng.uniform(0.05, 0.15) if shore == "trees" else rng.uniform(0.025, 0.06))
        _draw_treeline(draw, rng, size, water_line, height, tree_colour, rng.uniform(0.2, 0.9))
    else:
        # A distant flat shore: a thin dark line, as on a large lake (easy to take for the sea).
        thickness = max(1.0, size * rng.uniform(0.004, 0.02))
        draw.rectangle(
            (0, water_line - thickness, size, water_line), fill=_mix(tree_colour, palette["horizon"], 0.3)
        )

    array = _to_array(image)
    water_colour = _mix(_vary(rng, (35, 75, 90), 15), palette["horizon"], rng.uniform(0.1, 0.4))
    _reflect(array, rng, water_line, water_colour, rng.uniform(0.35, 0.75), rng.uniform(0.002, 0.012))
    image = _to_image(array)
    draw = ImageDraw.Draw(image)

    # Near shores on one or both sides, often with trees: the lake is closed in.
    bank_colour = _vary(rng, _pick(rng, {(85, 125, 55): 0.6, (120, 105, 70): 0.25, (95, 95, 90): 0.15}), 12)
    sides = _pick(rng, {"left": 0.25, "right": 0.25, "both": 0.3, "none": 0.2})
    for side in ("left", "right"):
        if sides not in (side, "both"):
            continue
        reach = size * rng.uniform(0.12, 0.35)
        top = water_line + (size - water_line) * rng.uniform(0.0, 0.4)
        if side == "left":
            outline = [(0, top), (reach * 0.6, top + (size - top) * 0.3), (reach, size), (0, size)]
            tree_xs = rng.uniform(0.0, reach * 0.6, int(rng.integers(0, 4)))
        else:
            outline = [
                (size, top),
                (size - reach * 0.6, top + (size - top) * 0.3),
                (size - reach, size),
                (size, size),
            ]
            tree_xs = size - rng.uniform(0.0, reach * 0.6, int(rng.integers(0, 4)))
        draw.polygon(outline, fill=_vary(rng, bank_colour, 6))
        for tree_x in tree_xs:
            tree_height = size * rng.uniform(0.2, 0.5)
            base = top + (size - top) * rng.uniform(0.1, 0.4)
            if rng.random() < 0.6:
                _draw_conifer(draw, tree_x, base, tree_height, _vary(rng, (35, 70, 40), 10), (60, 45, 30))
            else:
                _draw_round_tree(
                    draw, rng, tree_x, base, tree_height, _vary(rng, (60, 105, 45), 12), (70, 50, 35)
                )
    if rng.random() < 0.3:
        # Reeds or grass along the bottom edge.
        reed = _vary(rng, (95, 120, 60), 12)
        for _ in range(int(rng.integers(15, 40))):
            x = rng.uniform(0, size)
            height = size * rng.uniform(0.04, 0.14)
            draw.line(
                (x, size, x + rng.uniform(-0.3, 0.3) * height, size - height),
                fill=_vary(rng, reed, 10),
                width=max(1, size // 120),
            )
    return image


def _paint_mountain(rng: np.random.Generator, size: int) -> Image.Image:
    base = int(size * rng.uniform(0.6, 0.88))
    palette = _sky_palette(rng)
    array, _ = _sky(rng, size, base, palette)
    layers = int(rng.integers(1, 4))
    rock = _vary(
        rng,
        _pick(rng, {(110, 105, 100): 0.4, (120, 100, 80): 0.25, (90, 95, 115): 0.25, (140, 120, 100): 0.1}),
        12,
    )
    snowy = rng.random() < 0.6
    highest = size * rng.uniform(0.06, 0.3)
    for layer in range(layers):
        haze = (layers - 1 - layer) / max(layers - 1, 1) * rng.uniform(0.3, 0.6)
        top = highest + layer * (base - highest) * rng.uniform(0.15, 0.35)
        profile = _ridge_profile(rng, size, base, top, rng.uniform(0.6, 1.8))
        colour = _mix(_scale(rock, 1.0 - 0.12 * layer), palette["horizon"], haze)
        snow = _mix((242, 244, 250), palette["horizon"], haze * 0.5) if snowy and layer == 0 else None
        _paint_ridge(array, rng, profile, colour, base, snow, size * rng.uniform(0.05, 0.18))
    foreground = _pick(rng, {"meadow": 0.45, "scree": 0.25, "forest": 0.2, "lake": 0.1})
    ground = _vary(rng, (90, 125, 60) if foreground != "scree" else (125, 115, 100), 14)
    array[base:] = _gradient(size - base, size, _mix(ground, palette["horizon"], 0.25), _scale(ground, 0.8))
    if foreground == "lake":
        _reflect(
            array, rng, base, _vary(rng, (40, 75, 95), 12), rng.uniform(0.4, 0.7), rng.uniform(0.002, 0.01)
        )
    image = _to_image(array)
    draw = ImageDraw.Draw(image)
    if foreground == "forest":
        for _ in range(int(rng.integers(6, 18))):
            x = rng.uniform(0, size)
            tree_base = base + (size - base) * rng.uniform(0.2, 1.1)
            _draw_conifer(
                draw, x, tree_base, size * rng.uniform(0.08, 0.22), _vary(rng, (35, 65, 40), 10), (55, 40, 30)
            )
    elif foreground == "scree":
        for _ in range(int(rng.integers(5, 20))):
            x, y = rng.uniform(0, size), base + (size - base) * rng.uniform(0.1, 1.0)
            radius = size * rng.uniform(0.005, 0.025)
            draw.ellipse(
                (x - radius, y - radius * 0.6, x + radius, y + radius * 0.6),
                fill=_vary(rng, (100, 95, 90), 15),
            )
    return image


def _paint_forest(rng: np.random.Generator, size: int) -> Image.Image:
    palette = _sky_palette(rng)
    kind = _pick(rng, {"conifer": 0.4, "broadleaf": 0.45, "mixed": 0.15})
    autumn = kind != "conifer" and rng.random() < 0.25
    crown_base = (195, 120, 40) if autumn else (45, 95, 40)
    trunk_base = _vary(rng, (65, 50, 35), 8)
    if rng.random() < 0.2:
        # The edge of a forest seen from a meadow (close to a field with trees).
        wall_top = int(size * rng.uniform(0.15, 0.4))
        meadow_top = int(size * rng.uniform(0.55, 0.8))
        array, _ = _sky(rng, size, wall_top + size // 10, palette)
        image = _to_image(array)
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, wall_top + size * 0.05, size, meadow_top), fill=_scale(crown_base, 0.55))
        for _ in range(int(rng.integers(25, 45))):
            x = rng.uniform(-0.05, 1.05) * size
            height = (meadow_top - wall_top) * rng.uniform(0.8, 1.2)
            colour = _vary(rng, crown_base, 14)
            if kind == "conifer" or (kind == "mixed" and rng.random() < 0.5):
                _draw_conifer(draw, x, meadow_top, height, colour, trunk_base)
            else:
                _draw_round_tree(draw, rng, x, meadow_top, height, colour, trunk_base)
        meadow = _vary(rng, (110, 150, 65), 15)
        draw.rectangle((0, meadow_top, size, size), fill=meadow)
        for _ in range(int(rng.integers(20, 60))):
            x, y = rng.uniform(0, size), rng.uniform(meadow_top, size)
            draw.line((x, y, x + rng.uniform(-2, 2), y - size * 0.02), fill=_vary(rng, meadow, 15), width=1)
        return image

    # Inside the forest: layers of trunks and crowns, farther ones hazier.
    gap_bottom = int(size * rng.uniform(0.05, 0.4))
    array = _sky_array(size, gap_bottom, palette)
    haze = _mix(_vary(rng, (70, 100, 65), 12), palette["horizon"], rng.uniform(0.2, 0.55))
    ground_y = int(size * rng.uniform(0.72, 0.95))
    array[gap_bottom:] = _gradient(size - gap_bottom, size, haze, _scale(haze, 0.7))
    floor = _vary(rng, _pick(rng, {(95, 75, 45): 0.5, (70, 95, 45): 0.3, (150, 110, 55): 0.2}), 12)
    array[ground_y:] = _gradient(size - ground_y, size, _mix(floor, haze, 0.4), floor)
    image = _to_image(array)
    draw = ImageDraw.Draw(image)
    layers = 3
    for layer in range(layers):
        fog = (layers - 1 - layer) / (layers - 1) * rng.uniform(0.35, 0.65)
        count = int(rng.integers(10, 18)) if layer == 0 else int(rng.integers(4, 10))
        trunk_width = size * rng.uniform(0.008, 0.018) * (layer + 1)
        for _ in range(count):
            x = rng.uniform(-0.05, 1.05) * size
            base = ground_y + (size - ground_y) * (layer / layers) * rng.uniform(0.5, 1.0)
            trunk = _mix(_vary(rng, trunk_base, 8), haze, fog)
            crown = _mix(_vary(rng, crown_base, 14), haze, fog)
            draw.rectangle((x - trunk_width, -1, x + trunk_width, base), fill=trunk)
            if kind == "conifer" or (kind == "mixed" and rng.random() < 0.5):
                height = base * rng.uniform(0.6, 0.9)
                _draw_conifer(draw, x, base - base * 0.1, height, crown, trunk)
            else:
                for _ in range(int(rng.integers(2, 5))):
                    blob_x = x + rng.uniform(-1.0, 1.0) * size * 0.08
                    blob_y = rng.uniform(-0.05, 0.35) * size
                    radius = size * rng.uniform(0.06, 0.14) * (0.7 + 0.3 * layer)
                    draw.ellipse(
                        (blob_x - radius, blob_y - radius, blob_x + radius, blob_y + radius),
                        fill=_vary(rng, crown, 8),
                    )
    if rng.random() < 0.25:
        # Shafts of light through the canopy.
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        light = ImageDraw.Draw(layer)
        slant = rng.uniform(-0.4, 0.4) * size
        for _ in range(int(rng.integers(2, 5))):
            x = rng.uniform(0, size)
            width = size * rng.uniform(0.02, 0.06)
            light.polygon(
                [(x, 0), (x + width, 0), (x + width * 2 + slant, size), (x + slant, size)],
                fill=(255, 240, 190, int(rng.uniform(30, 70))),
            )
        image = Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")
    return image

_CROPS = {
    (205, 175, 90): 0.3,  # wheat
    (95, 150, 60): 0.3,  # grass
    (125, 95, 65): 0.15,  # ploughed earth
    (225, 205, 55): 0.12,  # rapeseed
    (180, 170, 110): 0.08,  # dry grass
    (150, 120, 180): 0.05,  # lavender
}


def _draw_rows_to_point(
    draw: ImageDraw.ImageDraw,
    size: int,
    vanish_x: float,
    horizon: float,
    count: int,
    colour,
    spread: float = 3.0,
) -> None:
    """Draw crop rows as thin wedges that converge on the vanishing point (vanish_x, horizon)."""
    bottom_xs = np.linspace(vanish_x - spread * size, vanish_x + spread * size, count)
    width = size * 0.012 * 3.0 / max(spread, 0.5)
    for bottom_x in bottom_xs:
        draw.polygon([(vanish_x, horizon), (bottom_x - width, size), (bottom_x + width, size)], fill=colour)


def _paint_field(rng: np.random.Generator, size: int) -> Image.Image:
    horizon = int(size * rng.uniform(0.3, 0.62))
    palette = _sky_palette(rng)
    array, _ = _sky(rng, size, horizon, palette)
    crop = _vary(rng, _pick(rng, _CROPS), 12)
    near_top = horizon
    array[horizon:] = _gradient(size - horizon, size, _mix(crop, palette["horizon"], 0.35), _scale(crop, 0.9))
    if rng.random() < 0.6:
        # A patchwork of distant fields just below the horizon.
        near_top = int(horizon + (size - horizon) * rng.uniform(0.12, 0.4))
        y = float(horizon)
        while y < near_top:
            strip = (
                (near_top - horizon)
                * rng.uniform(0.15, 0.45)
                * (0.4 + (y - horizon) / max(near_top - horizon, 1))
            )
            colour = _mix(_vary(rng, _pick(rng, _CROPS), 14), palette["horizon"], 0.3)
            array[int(y) : int(min(y + strip, near_top)) + 1] = np.asarray(colour, dtype=float)
            y += max(strip, 1.0)
    image = _to_image(array)
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.5:
        # A hedgerow or a line of trees on the horizon.
        tree_colour = _mix(_vary(rng, (45, 80, 40), 10), palette["horizon"], rng.uniform(0.1, 0.4))
        _draw_treeline(
            draw, rng, size, horizon, size * rng.uniform(0.02, 0.06), tree_colour, rng.uniform(0.0, 0.5)
        )
    vanish_x = size * rng.uniform(0.1, 0.9)
    if rng.random() < 0.75:
        row_colour = _scale(crop, rng.uniform(0.7, 0.85)) if rng.random() < 0.7 else _scale(crop, 1.15)
        # Rows start at the near field's top edge (the distant patchwork stays flat).
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        _draw_rows_to_point(
            ImageDraw.Draw(layer),
            size,
            vanish_x,
            horizon,
            int(rng.integers(18, 45)),
            row_colour + (255,),
            rng.uniform(1.0, 3.0),
        )
        mask = Image.new("L", image.size, 0)
        ImageDraw.Draw(mask).rectangle((0, near_top, size, size), fill=255)
        image.paste(
            layer.convert("RGB"),
            (0, 0),
            Image.fromarray(np.minimum(np.asarray(layer)[:, :, 3], np.asarray(mask)).astype(np.uint8), "L"),
        )
    else:
        # Rows across the view: stripes that widen towards the viewer.
        stripe_colour = _scale(crop, rng.uniform(0.75, 0.88))
        steps = int(rng.integers(12, 30))
        for step in range(steps):
            near = (step + 0.5) / steps
            y = near_top + (size - near_top) * near**2
            draw.line((0, y, size, y), fill=stripe_colour, width=max(1, int(size * 0.012 * near)))
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.15:
        # A dirt track through the field (easy to take for a road).
        track = _vary(rng, (150, 125, 90), 12)
        half = size * rng.uniform(0.05, 0.14)
        draw.polygon(
            [
                (vanish_x - 1, horizon),
                (vanish_x + 1, horizon),
                (vanish_x + half, size),
                (vanish_x - half, size),
            ],
            fill=track,
        )
    for _ in range(int(rng.integers(1, 4)) if rng.random() < 0.35 else 0):
        x = rng.uniform(0.05, 0.95) * size
        base = horizon + (size - horizon) * rng.uniform(0.05, 0.5)
        _draw_round_tree(
            draw, rng, x, base, size * rng.uniform(0.08, 0.3), _vary(rng, (55, 95, 40), 12), (70, 50, 35)
        )
    if rng.random() < 0.15:
        # Hay bales.
        for _ in range(int(rng.integers(2, 7))):
            near = rng.uniform(0.1, 0.9)
            y = near_top + (size - near_top) * near
            radius = size * 0.05 * (0.3 + near)
            x = rng.uniform(0, size)
            draw.ellipse(
                (x - radius, y - radius, x + radius, y + radius * 0.6), fill=_vary(rng, (200, 170, 95), 10)
            )
    return image


def _paint_road(rng: np.random.Generator, size: int) -> Image.Image:
    horizon = int(size * rng.uniform(0.35, 0.55))
    palette = _sky_palette(rng)
    array, _ = _sky(rng, size, horizon, palette)
    backdrop = _pick(rng, {"none": 0.45, "mountains": 0.2, "trees": 0.35})
    if backdrop == "mountains":
        top = horizon - size * rng.uniform(0.1, 0.25)
        profile = _ridge_profile(rng, size, horizon, top, rng.uniform(0.4, 1.2))
        colour = _mix(_vary(rng, (100, 100, 110), 12), palette["horizon"], rng.uniform(0.3, 0.55))
        _paint_ridge(array, rng, profile, colour, horizon)
    verge_kind = _pick(rng, {"grass": 0.45, "dry": 0.22, "crops": 0.23, "snow": 0.1})
    verge = {
        "grass": _vary(rng, (90, 140, 60), 14),
        "dry": _vary(rng, (185, 165, 115), 14),
        "crops": _vary(rng, _pick(rng, _CROPS), 12),
        "snow": _vary(rng, (232, 236, 242), 5),
    }[verge_kind]
    array[horizon:] = _gradient(
        size - horizon, size, _mix(verge, palette["horizon"], 0.3), _scale(verge, 0.9)
    )
    image = _to_image(array)
    draw = ImageDraw.Draw(image)
    if backdrop == "trees":
        tree_colour = _mix(_vary(rng, (45, 80, 40), 10), palette["horizon"], rng.uniform(0.1, 0.4))
        _draw_treeline(
            draw, rng, size, horizon, size * rng.uniform(0.02, 0.07), tree_colour, rng.uniform(0.0, 1.0)
        )

    vanish_x = size * rng.uniform(0.3, 0.7)
    if verge_kind == "crops":
        # A road through fields: crop rows on both verges.
        _draw_rows_to_point(
            draw,
            size,
            vanish_x,
            horizon,
            int(rng.integers(20, 40)),
            _scale(verge, 0.78),
            rng.uniform(1.0, 2.5),
        )
    dirt = rng.random() < 0.12
    grey = rng.uniform(55, 120)
    surface = _vary(rng, (150, 122, 88), 12) if dirt else _vary(rng, (grey, grey, grey), 4)
    half_bottom = size * rng.uniform(0.3, 0.7)
    shift = size * rng.uniform(-0.25, 0.25)
    half_top = size * rng.uniform(0.002, 0.01)
    bottom_left, bottom_right = vanish_x + shift - half_bottom, vanish_x + shift + half_bottom
    if rng.random() < 0.5:
        # Gravel shoulders.
        shoulder = _mix(surface, verge, 0.5)
        extra = half_bottom * 0.12
        draw.polygon(
            [
                (vanish_x - half_top * 1.3, horizon),
                (vanish_x + half_top * 1.3, horizon),
                (bottom_right + extra, size),
                (bottom_left - extra, size),
            ],
            fill=shoulder,
        )
    draw.polygon(
        [
            (vanish_x - half_top, horizon),
            (vanish_x + half_top, horizon),
            (bottom_right, size),
            (bottom_left, size),
        ],
        fill=surface,
    )

    def point(across: float, near: float) -> tuple[float, float]:
        """A point on the road: across in [-1, 1] from left to right edge, near in [0, 1] from the horizon."""
        centre = vanish_x + shift * near
        half = half_top + (half_bottom - half_top) * near
        return (centre + across * half, horizon + (size - horizon) * near)

    if not dirt:
        paint = (235, 235, 230) if rng.random() < 0.7 else (235, 200, 60)
        line_half = 0.025 * rng.uniform(0.7, 1.3)
        period = rng.uniform(1.5, 3.0)
        offset = rng.uniform(0.0, period)
        # Dashes equally spaced on the ground appear at near = 1 / distance.
        distance = 1.0 + offset
        while distance < 60.0:
            near_far, near_close = 1.0 / (distance + period * 0.5), 1.0 / distance
            draw.polygon(
                [
                    point(-line_half, near_far),
                    point(line_half, near_far),
                    point(line_half, near_close),
                    point(-line_half, near_close),
                ],
                fill=paint,
            )
            distance += period
        if rng.random() < 0.5:
            for edge in (-0.92, 0.92):
                draw.polygon(
                    [
                        point(edge - line_half, 0.02),
                        point(edge + line_half, 0.02),
                        point(edge + line_half, 1.0),
                        point(edge - line_half, 1.0),
                    ],
                    fill=(230, 230, 225),
                )
    side_objects = _pick(rng, {"none": 0.4, "trees": 0.35, "poles": 0.25})
    if side_objects != "none":
        side = 1.0 if rng.random() < 0.5 else -1.0
        spacing = rng.uniform(2.0, 5.0)
        distance = 1.0 + rng.uniform(0.0, spacing)
        tree_colour = _vary(rng, (45, 85, 40), 12)
        while distance < 40.0:
            near = 1.0 / distance
            x, y = point(side * rng.uniform(1.3, 1.8), near)
            height = size * 0.9 * near
            if side_objects == "trees":
                _draw_round_tree(draw, rng, x, y, height, _vary(rng, tree_colour, 6), (70, 50, 35))
            else:
                draw.line((x, y, x, y - height), fill=(70, 60, 50), width=max(1, int(size * 0.012 * near)))
            distance += spacing
    if not dirt and rng.random() < 0.12:
        # A car ahead.
        near = rng.uniform(0.15, 0.5)
        x, y = point(rng.uniform(-0.5, 0.5), near)
        width = half_bottom * near * 0.6
        car = _vary(
            rng, _pick(rng, {(180, 30, 30): 1, (30, 60, 150): 1, (220, 220, 220): 1, (30, 30, 30): 1}), 10
        )
        draw.rectangle((x - width / 2, y - width * 0.55, x + width / 2, y), fill=car)
        draw.rectangle(
            (x - width * 0.4, y - width * 0.5, x + width * 0.4, y - width * 0.3), fill=(40, 45, 55)
        )
    return image


def _paint_city(rng: np.random.Generator, size: int) -> Image.Image:
    night = rng.random() < 0.25
    palette = _sky_palette(rng, night=night)
    base = int(size * rng.uniform(0.72, 1.0))
    array, _ = _sky(rng, size, base, palette)
    tones = {
        (120, 122, 128): 0.3,
        (90, 100, 120): 0.25,
        (170, 160, 140): 0.2,
        (60, 75, 95): 0.15,
        (150, 90, 70): 0.1,
    }
    window_day = _mix(palette["horizon"], (40, 50, 70), rng.uniform(0.4, 0.8))
    for layer in range(2):
        haze = rng.uniform(0.35, 0.6) if layer == 0 else rng.uniform(0.0, 0.15)
        x = -rng.uniform(0.0, 0.1) * size
        while x < size:
            width = size * (rng.uniform(0.05, 0.15) if layer == 0 else rng.uniform(0.08, 0.25))
            if layer == 1 and rng.random() < 0.15:
                x += width * 0.5  # a gap between front buildings
                continue
            height = size * (rng.uniform(0.25, 0.65) if layer == 0 else rng.uniform(0.12, 0.5))
            x0, x1 = int(max(x, 0)), int(min(x + width, size))
            y0, y1 = int(max(base - height, 0)), base
            x += width * (rng.uniform(0.9, 1.05) if layer == 1 else rng.uniform(0.6, 1.0))
            if x1 <= x0 or y1 <= y0:
                continue
            tone = _vary(rng, _pick(rng, tones), 12)
            if night:
                tone = _scale(tone, 0.35)
            facade = np.asarray(_mix(tone, palette["horizon"], haze), dtype=float)
            block = np.empty((y1 - y0, x1 - x0, 3))
            block[:] = facade
            # Windows: a grid of small rectangles, dark glass by day, some lit at night.
            period_x = max(2, int(size * rng.uniform(0.012, 0.03)))
            period_y = max(2, int(period_x * rng.uniform(0.9, 1.6)))
            open_x = rng.uniform(0.35, 0.7)
            open_y = rng.uniform(0.4, 0.7)
            local_x = np.arange(x1 - x0) - int(period_x * 0.3)
            local_y = np.arange(y1 - y0) - int(period_y * 0.6)
            in_x = (
                (local_x >= 0)
                & ((local_x % period_x) < period_x * open_x)
                & (local_x < (x1 - x0) - period_x * 0.6)
            )
            in_y = (local_y >= 0) & ((local_y % period_y) < period_y * open_y)
            windows = in_y[:, None] & in_x[None, :]
            if night:
                lit = rng.random(((y1 - y0) // period_y + 2, (x1 - x0) // period_x + 2)) < rng.uniform(
                    0.3, 0.8
                )
                lit_mask = lit[
                    np.maximum(local_y, 0)[:, None] // period_y, np.maximum(local_x, 0)[None, :] // period_x
                ]
                glow = np.asarray(_vary(rng, (250, 215, 120), 10), dtype=float)
                block[windows & lit_mask] = glow
                block[windows & ~lit_mask] = facade * 0.6
            else:
                glass = np.asarray(_mix(window_day, facade, haze), dtype=float)
                block[windows] = glass
            array[y0:y1, x0:x1] = block
            if layer == 1 and rng.random() < 0.15:
                # An antenna on the roof.
                mast_x = (x0 + x1) // 2
                mast_top = max(int(y0 - size * rng.uniform(0.03, 0.1)), 0)
                array[mast_top:y0, max(mast_x - 1, 0) : mast_x + 1] = facade * 0.8
    if base < size:
        foreground = _pick(rng, {"street": 0.6, "water": 0.15, "park": 0.25})
        ground = {"street": (70, 70, 75), "water": (50, 70, 90), "park": (75, 110, 55)}[foreground]
        array[base:] = np.asarray(_vary(rng, _scale(ground, 0.6) if night else ground, 8), dtype=float)
        if foreground == "water":
            _reflect(array, rng, base, ground, rng.uniform(0.4, 0.7), rng.uniform(0.002, 0.01))
    return _to_image(array)

_PAINTERS = {
    "city": _paint_city,
    "field": _paint_field,
    "forest": _paint_forest,
    "lake": _paint_lake,
    "mountain": _paint_mountain,
    "ocean": _paint_ocean,
    "road": _paint_road,
}


def _finish(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Photographic variation: mirror, blur, exposure, contrast, saturation, colour cast, noise."""
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    radius = rng.uniform(0.0, 0.9) * image.width / 128
    if radius > 0.15:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    array = np.asarray(image, dtype=float)
    mean = array.mean()
    array = (array - mean) * rng.uniform(0.8, 1.2) + mean
    grey = array.mean(axis=2, keepdims=True)
    array = grey + (array - grey) * rng.uniform(0.7, 1.3)
    array = array * rng.uniform(0.75, 1.2) + rng.normal(0.0, 8.0, 3)
    if rng.random() < 0.3:
        # Vignetting: darker corners.
        axis = np.linspace(-1.0, 1.0, image.width)
        distance = axis[None, :] ** 2 + axis[:, None] ** 2
        array = array * (1.0 - rng.uniform(0.1, 0.3) * distance / 2.0)[:, :, None]
    array = array + rng.normal(0.0, rng.uniform(2.0, 9.0), array.shape)
    return _to_image(array)


def render_scene(class_name: str, rng: np.random.Generator, image_size: int) -> Image.Image:
    """Draw one synthetic landscape of ``class_name`` as an RGB image of ``image_size`` pixels square."""
    if class_name not in _PAINTERS:
        raise ValueError(f"Unknown class {class_name!r}: choose one of {', '.join(_PAINTERS)}.")
    image_size = check_integer("image_size", image_size, minimum=MINIMUM_IMAGE_SIZE)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (for example numpy.random.default_rng(0)).")
    factor = _SUPERSAMPLE if image_size <= _SUPERSAMPLE_MAX_SIZE else 1
    image = _PAINTERS[class_name](rng, image_size * factor)
    if factor != 1:
        image = image.resize((image_size, image_size), Image.Resampling.BOX)
    return _finish(image, rng)
