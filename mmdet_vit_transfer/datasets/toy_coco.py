"""A deterministic synthetic COCO-format instance-segmentation dataset.

Small enough to train a detector on in minutes, so that data loading,
large-scale jitter, training and COCO evaluation can be exercised end to end
without downloading COCO. Each image has a smoothly textured, noisy background
with unannotated clutter (short lines and small blobs) and 1-4 non-overlapping
filled shapes. Because shapes never overlap, the annotated polygon is exactly
the visible object. The classes are three shapes with category ids 1-3 by
default; any of :data:`SHAPES` with any category ids makes another dataset
(the custom-dataset walk-through uses one), and ``masks=False`` writes
box-only annotations (no ``segmentation``), as a detection-only set has.

Only numpy, PIL and the standard library are used, so this module imports
without mmdet.
"""
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ('circle', 'triangle', 'square')
#: The shapes that can be drawn; a class is one of them.
SHAPES = CLASSES + ('star', 'cross')
#: ``(name, category id)`` of the default dataset.
DEFAULT_CATEGORIES = tuple((name, i + 1) for i, name in enumerate(CLASSES))
SPLITS = ('train', 'val')
MIN_IMAGE_SIZE = 64
#: Diameter (px) of the circle through a shape's vertices; 24 px spans 1.5
#: cells of a stride-16 feature map.
OBJECT_DIAMETER_RANGE = (24.0, 110.0)
MAX_OBJECTS = 4
PLACEMENT_TRIES = 50
#: Minimum distance (px) between objects and from an object to the border.
GAP = 2.0
CIRCLE_VERTICES = 32
#: Standard deviation of the per-pixel noise added after drawing.
NOISE_STD = 6.0


def toy_coco_paths(out_dir):
    """Return the paths of a toy dataset rooted at ``out_dir``.

    Args:
        out_dir (str | Path): Dataset root, the ``data_root`` of an mmdet
            ``CocoDataset``; it need not exist.

    Returns:
        dict[str, Path]: ``root``, ``train_img_dir``, ``train_ann_file``,
        ``val_img_dir`` and ``val_ann_file``. Image file names in an
        annotation file are relative to its split's image folder, so
        ``data_prefix=dict(img='train/')`` works.
    """
    root = Path(out_dir)
    paths = {'root': root}
    for split in SPLITS:
        paths[f'{split}_img_dir'] = root / split
        paths[f'{split}_ann_file'] = (
            root / 'annotations' / f'instances_{split}.json')
    return paths


def make_toy_coco(out_dir, num_train=400, num_val=100, seed=0, min_size=192,
                  max_size=256, categories=DEFAULT_CATEGORIES, masks=True):
    """Write PNG images and one COCO annotation file per split.

    The same arguments always give byte-identical files. The splits draw from
    independent random streams, and the first ``k`` images of a split do not
    depend on how many follow.

    Args:
        out_dir (str | Path): Dataset root; created if needed. Existing files
            with the same names are overwritten.
        num_train (int): Number of training images, >= 1.
        num_val (int): Number of validation images, >= 1.
        seed (int): Non-negative random seed.
        min_size (int): Smallest image side in pixels, >= 64.
        max_size (int): Largest image side in pixels, >= ``min_size``.
        categories (Sequence[tuple[str, int]]): ``(shape name, category
            id)`` of each class, in the order of the file's ``categories``;
            names from :data:`SHAPES`, ids positive and unique, need not be
            contiguous or sorted.
        masks (bool): Write a polygon ``segmentation`` per object; False
            writes box-only annotations (``area`` is then the box's).

    Returns:
        dict[str, Path]: The paths described in :func:`toy_coco_paths`.

    Raises:
        ValueError: If an argument is out of range; the message names it.
    """
    _check_args(num_train=num_train, num_val=num_val, seed=seed,
                min_size=min_size, max_size=max_size)
    categories = _check_categories(categories)
    paths = toy_coco_paths(out_dir)
    paths['train_ann_file'].parent.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence(seed).spawn(len(SPLITS))
    for split, num_images, stream in zip(SPLITS, (num_train, num_val),
                                         streams):
        dataset = _write_split(
            paths[f'{split}_img_dir'], np.random.default_rng(stream),
            _generator_info(split, num_images, seed, min_size, max_size,
                            categories, masks))
        # Written last, so that an interrupted run never looks complete.
        paths[f'{split}_ann_file'].write_text(
            json.dumps(dataset, separators=(',', ':')) + '\n')
    return paths


def is_complete_toy_coco(out_dir, num_train=400, num_val=100, seed=0,
                         min_size=192, max_size=256,
                         categories=DEFAULT_CATEGORIES, masks=True):
    """Whether ``out_dir`` holds what :func:`make_toy_coco` would write.

    Both annotation files must parse, record the same generator arguments and
    list only images that exist. Pixel contents are not re-checked.

    Args:
        out_dir (str | Path): Dataset root.
        num_train, num_val, seed, min_size, max_size, categories, masks: As
            in :func:`make_toy_coco`.

    Returns:
        bool: True if regenerating would be redundant.
    """
    paths = toy_coco_paths(out_dir)
    for split, num_images in zip(SPLITS, (num_train, num_val)):
        try:
            dataset = json.loads(paths[f'{split}_ann_file'].read_text())
            generator = dataset['info']['generator']
            file_names = [image['file_name'] for image in dataset['images']]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        expected = _generator_info(split, num_images, seed, min_size,
                                   max_size, categories, masks)
        img_dir = paths[f'{split}_img_dir']
        if generator != expected or not all(
                (img_dir / name).is_file() for name in file_names):
            return False
    return True


def _check_args(**args):
    """Raise ValueError naming the first out-of-range argument."""
    lowest = dict(num_train=1, num_val=1, seed=0, min_size=MIN_IMAGE_SIZE,
                  max_size=MIN_IMAGE_SIZE)
    for name, value in args.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f'{name} must be an integer, got {value!r}')
        if value < lowest[name]:
            raise ValueError(f'{name} must be >= {lowest[name]}, got {value}')
    if args['min_size'] > args['max_size']:
        raise ValueError(f"min_size ({args['min_size']}) must be <= "
                         f"max_size ({args['max_size']})")


def _check_categories(categories):
    """``categories`` as a tuple of ``(name, id)``; ValueError naming what
    is wrong."""
    categories = tuple((name, category_id) for name, category_id in categories)
    if not categories:
        raise ValueError('categories must name at least one class')
    for name, category_id in categories:
        if name not in SHAPES:
            raise ValueError(f'class {name!r} is not a shape that can be '
                             f'drawn; valid: {", ".join(SHAPES)}')
        if isinstance(category_id, bool) or not isinstance(
                category_id, (int, np.integer)) or category_id < 1:
            raise ValueError(f'category id of {name!r} must be a positive '
                             f'integer, got {category_id!r}')
    for position in (0, 1):
        values = [c[position] for c in categories]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f'{("names", "category ids")[position]} must be '
                             f'unique, got {repeated} more than once')
    return categories


def _generator_info(split, num_images, seed, min_size, max_size, categories,
                    masks):
    """The arguments that determine a split, kept in its ``info`` field."""
    return dict(split=split, num_images=int(num_images), seed=int(seed),
                min_size=int(min_size), max_size=int(max_size),
                categories=[[name, int(i)] for name, i in categories],
                masks=bool(masks))


def _write_split(img_dir, rng, generator):
    """Render and save one split's images; return its COCO dict."""
    img_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    shapes = [name for name, _ in generator['categories']]
    for image_id in range(1, generator['num_images'] + 1):
        width, height = (int(side) for side in rng.integers(
            generator['min_size'], generator['max_size'] + 1, size=2))
        pixels, objects = _render_image(rng, width, height, shapes)
        file_name = f'{image_id:06d}.png'
        Image.fromarray(pixels).save(img_dir / file_name, format='PNG')
        images.append(dict(id=image_id, file_name=file_name, width=width,
                           height=height))
        for class_index, polygon in objects:
            annotations.append(_annotation(
                len(annotations) + 1, image_id,
                generator['categories'][class_index][1], polygon,
                generator['masks']))
    categories = [dict(id=category_id, name=name, supercategory='shape')
                  for name, category_id in generator['categories']]
    info = dict(description='mmdet_vit_transfer toy shapes', version='1.0',
                generator=generator)
    return dict(info=info, licenses=[], images=images,
                annotations=annotations, categories=categories)


def _render_image(rng, width, height, shapes):
    """Draw one image with objects of ``shapes`` (the classes in order).

    Returns:
        tuple: ``(H, W, 3)`` uint8 pixels and a list of
        ``(class_index, (N, 2) polygon)``.
    """
    background = rng.integers(30, 226, size=3)
    # A coarse random grid upsampled bicubically: smooth colour variation.
    coarse = background + rng.uniform(-30, 30, size=(6, 6, 3))
    image = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    _draw_clutter(ImageDraw.Draw(image), rng, width, height)
    pixels = np.asarray(image, dtype=np.float64)
    objects = []
    for class_index, center, radius in _place_objects(rng, width, height,
                                                      len(shapes)):
        polygon = _shape_polygon(rng, shapes[class_index], center, radius)
        colour = rng.integers(0, 256, size=3)
        # One channel 90-166 levels (mod 256) from the background, so that
        # every object stands out from the +-30 texture.
        channel = rng.integers(3)
        colour[channel] = (background[channel] + rng.integers(90, 167)) % 256
        pixels[_polygon_mask(polygon, width, height)] = colour
        objects.append((class_index, polygon))
    pixels += rng.normal(0, NOISE_STD, size=pixels.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), objects


def _draw_clutter(draw, rng, width, height):
    """Scatter short lines and small blobs, all smaller than any object."""
    for _ in range(rng.integers(8, 25)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            length, angle = rng.uniform(4, 16), rng.uniform(0, 2 * np.pi)
            end = (x + length * np.cos(angle), y + length * np.sin(angle))
            draw.line([(x, y), end], fill=colour,
                      width=int(rng.integers(1, 3)))
        else:
            rx, ry = rng.uniform(1.5, 5, size=2)
            draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=colour)


def _place_objects(rng, width, height, num_classes):
    """Rejection-sample 1-4 disjoint bounding circles inside the image.

    An object not placed within ``PLACEMENT_TRIES`` tries is dropped; the
    first one always fits.

    Returns:
        list: ``(class_index, (cx, cy), radius)`` per object.
    """
    max_diameter = min(OBJECT_DIAMETER_RANGE[1], 0.75 * min(width, height))
    placed = []
    for _ in range(rng.integers(1, MAX_OBJECTS + 1)):
        class_index = int(rng.integers(num_classes))
        for _ in range(PLACEMENT_TRIES):
            radius = rng.uniform(OBJECT_DIAMETER_RANGE[0], max_diameter) / 2
            cx = rng.uniform(radius + GAP, width - radius - GAP)
            cy = rng.uniform(radius + GAP, height - radius - GAP)
            if all(np.hypot(cx - x, cy - y) >= radius + r + GAP
                   for _, (x, y), r in placed):
                placed.append((class_index, (cx, cy), radius))
                break
    return placed


def _shape_polygon(rng, class_name, center, radius):
    """Vertices ``(N, 2)``, rounded to 0.01 px, of a randomly rotated shape
    inscribed in the circle of ``center`` and ``radius``."""
    rotation = rng.uniform(0, 2 * np.pi)
    if class_name == 'circle':
        angles = np.linspace(0, 2 * np.pi, CIRCLE_VERTICES, endpoint=False)
    elif class_name == 'triangle':
        # Jittered equilateral; the jitter keeps the vertex order.
        angles = np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.3, 0.3, size=3)
    elif class_name in ('star', 'cross'):
        return _star_or_cross(rng, class_name, center, radius, rotation)
    else:
        # Corners at +-a and pi+-a: a = pi/4 is a square, this range gives
        # aspect ratios tan(a) in [0.84, 1.19].
        half = rng.uniform(0.70, 0.87)
        angles = np.array([-half, half, np.pi - half, np.pi + half])
    angles = angles + rotation
    polygon = np.stack([center[0] + radius * np.cos(angles),
                        center[1] + radius * np.sin(angles)], axis=1)
    return np.round(polygon, 2)


def _star_or_cross(rng, class_name, center, radius, rotation):
    """Vertices of a five-pointed star (inner radius 0.4-0.55 of the outer)
    or a plus-shaped cross (arms 0.45-0.65 of the radius wide), both
    non-convex."""
    if class_name == 'star':
        angles = np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.4, 0.55))
        points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    else:
        half = rng.uniform(0.225, 0.325)
        # One arm's end (x = 1, y = -half .. half) and the inner corner
        # before the next arm, turned four times by 90 degrees: 12 vertices.
        arm = np.array([[1.0, -half], [1.0, half], [half, half]])
        points = np.concatenate(
            [_rotate(arm, a) for a in np.arange(4) * np.pi / 2])
        # Scaled so that the arm ends' corners lie on the circle.
        points = points / np.hypot(1.0, half)
    points = _rotate(points, rotation) * radius + np.asarray(center)
    return np.round(points, 2)


def _rotate(points, angle):
    """``(N, 2)`` points turned by ``angle`` radians about the origin."""
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _polygon_mask(polygon, width, height):
    """``(H, W)`` bool mask of pixels whose centre lies inside ``polygon``.

    This is the COCO convention (pixel ``(i, j)`` spans ``[i, i+1) x [j,
    j+1)``), so the drawn object agrees with its rasterised annotation. PIL's
    polygon fill would also paint every pixel the outline touches, making
    objects about half a pixel too large all round.
    """
    x0, y0 = np.floor(polygon.min(axis=0)).astype(int)
    x1, y1 = np.ceil(polygon.max(axis=0)).astype(int)
    xs = np.arange(x0, x1) + 0.5  # (w,) pixel centres
    ys = np.arange(y0, y1)[:, None] + 0.5  # (h, 1)
    inside = np.zeros((len(ys), len(xs)), dtype=bool)
    # Even-odd rule: flip every pixel left of an edge crossing its row.
    for (ax, ay), (bx, by) in zip(polygon, np.roll(polygon, -1, axis=0)):
        if ay == by:
            continue  # a horizontal edge crosses no row
        crosses = (ay > ys) != (by > ys)  # (h, 1)
        x_cross = ax + (ys - ay) * (bx - ax) / (by - ay)  # (h, 1)
        inside ^= crosses & (xs < x_cross)
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = inside
    return mask


def _annotation(ann_id, image_id, category_id, polygon, mask):
    """COCO annotation of a polygon: bbox = its extent; with ``mask`` the
    polygon as ``segmentation`` and its area, else the box's area."""
    x, y = polygon[:, 0], polygon[:, 1]
    x0, y0 = float(x.min()), float(y.min())
    bbox = [x0, y0, round(float(x.max()) - x0, 2),
            round(float(y.max()) - y0, 2)]
    if not mask:
        return dict(id=ann_id, image_id=image_id, category_id=category_id,
                    bbox=bbox, area=round(bbox[2] * bbox[3], 2), iscrowd=0)
    # Shoelace formula.
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return dict(id=ann_id, image_id=image_id, category_id=category_id,
                bbox=bbox, area=round(float(area), 2), iscrowd=0,
                segmentation=[[float(v) for v in polygon.reshape(-1)]])
