"""Read a COCO annotation file, refusing one that is empty or malformed.

pycocotools reports an empty or broken file as a bare ``JSONDecodeError``
without the file name, and mmdet's ``CocoDataset`` fails on missing fields
with a ``KeyError`` or silently drops annotations of undeclared categories.
:func:`load_coco_annotations` checks the structure first and raises
:class:`AnnotationFileError` naming the file, the entry and what would be
valid. Values that are well-formed but unusable (degenerate boxes, invalid
masks) are not errors here: :mod:`.instance_checks` cleans them and the
dataset counts them.
"""
import json
from collections import Counter
from numbers import Real
from pathlib import Path
from typing import Dict, List, Sequence, Union

from ..utils.errors import UserInputError

#: Fields every entry must have, with their types.
REQUIRED_FIELDS = {
    'images': {'id': int, 'file_name': str, 'width': int, 'height': int},
    'annotations': {'id': int, 'image_id': int, 'category_id': int,
                    'bbox': list},
    'categories': {'id': int, 'name': str},
}


class AnnotationFileError(UserInputError, ValueError):
    """A COCO annotation file that cannot be used.

    Args:
        path (str | Path): The annotation file.
        problem (str): What is wrong, naming the entry.
    """

    def __init__(self, path: Union[str, Path], problem: str):
        super().__init__(f'annotation file {path}: {problem}')
        self.path, self.problem = str(path), problem


def _describe(entry: dict) -> str:
    return f"id {entry['id']!r}" if 'id' in entry else str(entry)[:80]


def _check_entries(path, section: str, entries) -> None:
    if not isinstance(entries, list):
        raise AnnotationFileError(
            path, f"'{section}' must be a list, got "
            f'{type(entries).__name__}')
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise AnnotationFileError(
                path, f"{section}[{index}] must be an object, got "
                f'{str(entry)[:80]}')
        for field, kind in REQUIRED_FIELDS[section].items():
            value = entry.get(field)
            if not isinstance(value, kind) or isinstance(value, bool):
                found = 'missing' if field not in entry else \
                    f'{value!r} ({type(value).__name__})'
                raise AnnotationFileError(
                    path, f"{section}[{index}] ({_describe(entry)}): "
                    f"'{field}' must be {kind.__name__}, got {found}")
    counts = Counter(entry['id'] for entry in entries)
    duplicate = next((i for i, n in counts.items() if n > 1), None)
    if duplicate is not None:
        raise AnnotationFileError(
            path, f'{section} id {duplicate} appears more than once; ids '
            'must be unique')


def validate_coco_dict(data, path: Union[str, Path]) -> None:
    """Check the structure that the dataset relies on.

    Args:
        data: The parsed JSON.
        path (str | Path): The file it came from, for messages.

    Raises:
        AnnotationFileError: For a top level that is not an object with
            ``images``, ``annotations`` and ``categories`` lists; an entry
            missing a required field (:data:`REQUIRED_FIELDS`) or with a
            wrong type; non-positive image sizes; a ``bbox`` that is not four
            numbers; duplicate ids or category names; an annotation of an
            unknown image or of a category id not declared in
            ``categories``.
    """
    if not isinstance(data, dict):
        raise AnnotationFileError(
            path, 'the top level must be an object with images, annotations '
            f'and categories, got {type(data).__name__}')
    missing = [key for key in REQUIRED_FIELDS if key not in data]
    if missing:
        raise AnnotationFileError(
            path, f'no {", ".join(missing)} list (found keys: '
            f'{sorted(data)})')
    for section in REQUIRED_FIELDS:
        _check_entries(path, section, data[section])
    for image in data['images']:
        if image['width'] <= 0 or image['height'] <= 0:
            raise AnnotationFileError(
                path, f"image id {image['id']} ({image['file_name']}) has "
                f"size {image['width']}x{image['height']}; width and height "
                'must be positive')
    names = Counter(category['name'] for category in data['categories'])
    repeated = [name for name, n in names.items() if n > 1]
    if repeated:
        ids = [c['id'] for c in data['categories']
               if c['name'] == repeated[0]]
        raise AnnotationFileError(
            path, f'category name {repeated[0]!r} is used by categories '
            f'{ids}; names must be unique, since classes are given by name')
    image_ids = {image['id'] for image in data['images']}
    category_ids = sorted(category['id'] for category in data['categories'])
    for ann in data['annotations']:
        bbox = ann['bbox']
        if len(bbox) != 4 or not all(
                isinstance(v, Real) and not isinstance(v, bool)
                for v in bbox):
            raise AnnotationFileError(
                path, f"annotation id {ann['id']}: bbox must be four numbers "
                f'[x, y, width, height], got {bbox!r}')
        if ann['image_id'] not in image_ids:
            raise AnnotationFileError(
                path, f"annotation id {ann['id']} refers to image_id "
                f"{ann['image_id']}, which is not in 'images'")
        if ann['category_id'] not in category_ids:
            raise AnnotationFileError(
                path, f"annotation id {ann['id']} (image_id "
                f"{ann['image_id']}) has category_id {ann['category_id']}, "
                f'which is not declared in categories (ids {category_ids})')


def load_coco_annotations(path: Union[str, Path]) -> Dict:
    """Read and validate a COCO annotation file.

    Args:
        path (str | Path): A local JSON file.

    Returns:
        dict: The parsed file (see :func:`validate_coco_dict`).

    Raises:
        AnnotationFileError: If the file is missing, empty, not JSON or
            malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationFileError(path, 'no such file')
    text = path.read_text(encoding='utf-8')
    if not text.strip():
        raise AnnotationFileError(path, 'the file is empty')
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AnnotationFileError(
            path, f'not valid JSON: {error.msg} at line {error.lineno} '
            f'column {error.colno}') from error
    validate_coco_dict(data, path)
    return data


def check_class_names(classes: Sequence[str], categories: List[dict],
                      path: Union[str, Path]) -> None:
    """Every class of the dataset's metainfo must be a category name, in
    the order of the file's ``categories``.

    Labels follow the file's order (mmdet's ``CocoDataset`` and
    ``CocoMetric`` both number the chosen categories in file order), so
    classes in another order would put the wrong names on the labels. A
    subset of the categories is allowed: the others are left out.

    Raises:
        AnnotationFileError: Naming the classes that are not category names
            or are out of order, and the file's categories.
    """
    names = [category['name'] for category in categories]
    listed = ', '.join(f"{c['name']!r} (id {c['id']})" for c in categories)
    unknown = [name for name in classes if name not in names]
    if unknown:
        raise AnnotationFileError(
            path, f'classes {unknown} of the dataset metainfo are not '
            f'category names of the file (its categories: {listed})')
    if list(classes) != sorted(classes, key=names.index):
        raise AnnotationFileError(
            path, f'classes {tuple(classes)} of the dataset metainfo are not '
            f'in the order of the file\'s categories ({listed}); labels '
            'follow the file\'s order, so list them in that order')


def has_masks(annotations: List[dict]) -> bool:
    """Whether any annotation has a (non-empty) ``segmentation``; a file
    where none has is a box-only file."""
    return any(ann.get('segmentation') for ann in annotations)
