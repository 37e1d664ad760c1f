"""A detector's predictions on images as a COCO results file.

The file is the list that ``pycocotools``' ``COCO.loadRes`` reads and
``COCOeval`` scores: one entry per prediction with ``image_id``,
``category_id`` (the dataset's own ids, which need not be contiguous),
``bbox`` as ``[x, y, width, height]``, ``score`` and, for a mask model,
``segmentation`` (compressed RLE). Each entry also names its image
(``file_name``) and class (``category_name``), so that the file can be read
without the annotation file.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from ..datasets.coco_file_checks import (AnnotationFileError,
                                         load_coco_annotations)
from ..datasets.validated_coco import CATEGORY_IDS_KEY


def category_ids_from_file(classes: Sequence[str],
                           ann_file: Union[str, Path]) -> List[int]:
    """The category id of each class, by name, in a COCO file.

    Raises:
        AnnotationFileError: A class is not a category name of the file.
    """
    categories = load_coco_annotations(ann_file)['categories']
    ids = {c['name']: c['id'] for c in categories}
    unknown = [name for name in classes if name not in ids]
    if unknown:
        raise AnnotationFileError(
            ann_file, f"the model's classes {unknown} are not category names "
            f'of the file (its categories: {sorted(ids)})')
    return [ids[name] for name in classes]


def category_ids(classes: Sequence[str], dataset_meta: Dict,
                 ann_file: Optional[Union[str, Path]] = None,
                 config_ann_file: Optional[Union[str, Path]] = None
                 ) -> List[int]:
    """The category id of each class: from ``ann_file`` if given, else the
    ids that the training dataset recorded in the checkpoint's
    ``dataset_meta``, else from ``config_ann_file`` (the config's test
    annotation file) if it exists.

    Raises:
        FileNotFoundError: None of them gives the ids.
    """
    if ann_file is not None:
        return category_ids_from_file(classes, ann_file)
    recorded = dataset_meta.get(CATEGORY_IDS_KEY)
    if recorded is not None and len(recorded) == len(classes):
        return list(recorded)
    if config_ann_file is not None and Path(config_ann_file).is_file():
        return category_ids_from_file(classes, config_ann_file)
    raise FileNotFoundError(
        'the checkpoint does not record the category ids of its classes and '
        f"the config's test annotation file {config_ann_file} does not "
        'exist: give the annotation file of the dataset')


def image_ids(images: Sequence[Path],
              ann_file: Optional[Union[str, Path]] = None) -> List[int]:
    """The COCO image id of each image: the id of the entry with its file
    name in ``ann_file``, or 1, 2, ... in order without one.

    Raises:
        AnnotationFileError: An image is not listed in ``ann_file``.
    """
    if ann_file is None:
        return list(range(1, len(images) + 1))
    listed = {Path(image['file_name']).name: image['id']
              for image in load_coco_annotations(ann_file)['images']}
    missing = [p.name for p in images if p.name not in listed]
    if missing:
        raise AnnotationFileError(
            ann_file, f'{len(missing)} of the {len(images)} images are not '
            f'listed in its images, e.g. {missing[:3]}; without the '
            'annotation file they are numbered 1, 2, ...')
    return [listed[p.name] for p in images]


def coco_results(predictions: Sequence[Dict], images: Sequence[Path],
                 ids_of_images: Sequence[int], classes: Sequence[str],
                 ids_of_classes: Sequence[int]) -> List[Dict]:
    """COCO result entries of mmdet ``DetInferencer`` predictions.

    Args:
        predictions: One dict per image, with ``labels``, ``scores``,
            ``bboxes`` (x1, y1, x2, y2) and optionally ``masks`` (RLE).
        images: The image files, in the same order.
        ids_of_images: Their COCO image ids.
        classes: The class name of each label.
        ids_of_classes: The category id of each label.

    Returns:
        list[dict]: One entry per prediction, images in order.
    """
    results = []
    for prediction, image, image_id in zip(predictions, images,
                                           ids_of_images):
        masks = prediction.get('masks')
        for i, (label, score, (x1, y1, x2, y2)) in enumerate(
                zip(prediction['labels'], prediction['scores'],
                    prediction['bboxes'])):
            entry = dict(image_id=image_id, file_name=image.name,
                         category_id=ids_of_classes[label],
                         category_name=classes[label],
                         bbox=[x1, y1, x2 - x1, y2 - y1], score=score)
            if masks is not None:
                entry['segmentation'] = masks[i]
            results.append(entry)
    return results


def write_coco_results(path: Union[str, Path], results: List[Dict]) -> Path:
    """Write the entries as JSON; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results))
    return path
