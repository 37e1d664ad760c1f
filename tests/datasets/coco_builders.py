"""Write small COCO sets, good or broken, for the input-validation tests."""
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ('circle', 'triangle', 'square')
CATEGORIES = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]


def image_bytes(width=64, height=48, mode='RGB', fmt='PNG', seed=0):
    """Encoded image of ``mode`` ('RGB', 'L', 'RGBA', 'P', 'CMYK', 'I;16')
    with random pixels; returns (bytes, the pixel array written)."""
    rng = np.random.default_rng(seed)
    if mode == 'I;16':
        pixels = (rng.integers(0, 256, (height, width)) * 257).astype(
            np.uint16)
        image = Image.fromarray(pixels)
    else:
        channels = {'RGB': 3, 'L': 1, 'RGBA': 4, 'P': 3, 'CMYK': 3}[mode]
        pixels = rng.integers(0, 256, (height, width, channels),
                              dtype=np.uint8).squeeze()
        image = Image.fromarray(pixels)
        if mode in ('P', 'CMYK'):
            image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue(), pixels


def box_ann(ann_id, image_id, bbox, category_id=1, **extra):
    """An annotation whose polygon is its box (when the box is usable)."""
    x, y, w, h = bbox
    ann = dict(id=ann_id, image_id=image_id, category_id=category_id,
               bbox=list(bbox), area=float(w) * float(h), iscrowd=0,
               segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]])
    ann.update(extra)
    return ann


def write_coco(root, images, annotations, categories=CATEGORIES,
               write_files=True, name='instances.json'):
    """Write ``root/img/<file_name>`` for every image and the annotation
    file ``root/<name>``.

    Args:
        images (list[dict]): COCO image entries; an entry may carry
            ``_bytes`` (the file content to write instead of a PNG).
        annotations (list[dict]): COCO annotations.

    Returns:
        Path: The annotation file.
    """
    root = Path(root)
    (root / 'img').mkdir(parents=True, exist_ok=True)
    entries = []
    for image in images:
        image = dict(image)
        content = image.pop('_bytes', None)
        if write_files:
            if content is None:
                content, _ = image_bytes(image['width'], image['height'],
                                         seed=image['id'])
            (root / 'img' / image['file_name']).write_bytes(content)
        entries.append(image)
    path = root / name
    path.write_text(json.dumps(dict(images=entries, annotations=annotations,
                                    categories=categories)))
    return path


def image_entry(image_id, width=64, height=48, **extra):
    return dict(id=image_id, file_name=f'{image_id:03d}.png', width=width,
                height=height, **extra)
