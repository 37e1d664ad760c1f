"""Predictions of a trained detector drawn on images, through mmdet's
``DetInferencer`` and ``DetLocalVisualizer`` (boxes, masks, class names and
scores), and written as a COCO results file with the dataset's class names
and category ids (:mod:`.coco_results`)."""
import logging
import os.path as osp
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple, Union

from mmcv.transforms import LoadImageFromFile
from mmengine.config import Config
from mmengine.logging import MMLogger, print_log
from mmengine.registry import init_default_scope

import mmdet_vit_transfer  # noqa: F401  (registers the components)
from mmdet.apis import DetInferencer
from mmdet.registry import TRANSFORMS

from ..datasets import fill_pad_values
from ..datasets.transforms import CheckedLoadImageFromFile, ImageLoadError
from ..datasets.transforms.checked_loading import UNREADABLE_IMAGE_POLICIES
from ..utils import check_checkpoint_file, mmengine_checkpoint_globals
from ..utils.checkpoint_files import refused_checkpoint
from .coco_results import (category_ids, coco_results, image_ids,
                           write_coco_results)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
#: The COCO results file of all images, in the output folder.
RESULTS_FILE = 'results.json'


@dataclass
class DrawnPrediction:
    """Files written for one image.

    Args:
        image (Path): the input.
        drawn (Path): the image with the predictions drawn on it.
        predictions (Path): the predictions as JSON (labels, scores,
            boxes, RLE masks), all of them, whatever the drawing threshold.
    """
    image: Path
    drawn: Path
    predictions: Path


def collect_images(inputs: Sequence[Union[str, Path]]) -> List[Path]:
    """Image files named by ``inputs`` (files, or folders of images).

    Raises:
        FileNotFoundError: an input does not exist, or a folder holds no
            image.
        ValueError: two images share a file name (their drawings would
            overwrite each other).
    """
    images = []
    for path in map(Path, inputs):
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(
                    f'no image ({", ".join(IMAGE_SUFFIXES)}) in {path}')
            images += found
        elif path.is_file():
            images.append(path)
        else:
            raise FileNotFoundError(f'image {path} does not exist')
    names = {}
    for image in images:
        if image.name in names:
            raise ValueError(f'{names[image.name]} and {image} have the same '
                             f'name; their drawings would overwrite each '
                             f'other: infer them into separate folders')
        names[image.name] = image
    return images


def readable_images(inputs: Sequence[Union[str, Path]],
                    on_unreadable_image: str = 'error'
                    ) -> Tuple[List[Path], List[ImageLoadError]]:
    """The images named by ``inputs`` (:func:`collect_images`) that load,
    and the failures of those that do not.

    Args:
        inputs: image files or folders of images.
        on_unreadable_image (str): ``'error'`` raises the first failure;
            ``'skip'`` logs each one with its path and leaves it out.

    Raises:
        ImageLoadError: an image that cannot be loaded, with ``'error'``.
    """
    if on_unreadable_image not in UNREADABLE_IMAGE_POLICIES:
        raise ValueError(f'on_unreadable_image must be one of '
                         f'{UNREADABLE_IMAGE_POLICIES}, got '
                         f'{on_unreadable_image!r}')
    loader = CheckedLoadImageFromFile()
    loaded, failures = [], []
    for image in collect_images(inputs):
        try:
            loader(dict(img_path=str(image)))
        except ImageLoadError as error:
            if on_unreadable_image == 'error':
                raise
            print_log(f'cannot load image {error}; skipped',
                      logger='current', level=logging.WARNING)
            failures.append(error)
        else:
            loaded.append(image)
    return loaded, failures


def inference_config(config: Union[str, Path]) -> Config:
    """The config, its padding values filled in as the runner fills them
    (:func:`~mmdet_vit_transfer.datasets.fill_pad_values`), its test
    pipeline's image loader named as ``DetInferencer`` looks for it.

    The inferencer replaces ``LoadImageFromFile`` by a loader that also takes
    arrays, and refuses a pipeline without it; a subclass (such as
    ``CheckedLoadImageFromFile``) is renamed to its base, arguments kept.
    """
    cfg = fill_pad_values(Config.fromfile(config))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    for transform in cfg.test_dataloader.dataset.pipeline:
        loader = TRANSFORMS.get(transform['type'])
        if isinstance(loader, type) and issubclass(loader, LoadImageFromFile):
            transform['type'] = 'LoadImageFromFile'
    return cfg


def _class_names(inferencer: DetInferencer) -> Tuple[str, ...]:
    """The checkpoint's class names, or the config's when the checkpoint
    has none of the model's number (mmdet then falls back on COCO's)."""
    cfg = inferencer.cfg
    names = tuple(inferencer.model.dataset_meta['classes'])
    heads = [cfg.model.get('roi_head', {}).get('bbox_head', {}),
             cfg.model.get('bbox_head', {})]
    num_classes = next((h['num_classes'] for h in heads
                        if isinstance(h, dict) and 'num_classes' in h), None)
    if num_classes is None or len(names) == num_classes:
        return names
    metainfo = cfg.test_dataloader.dataset.get('metainfo') or {}
    config_names = tuple(metainfo.get('classes', ()))
    if len(config_names) != num_classes:
        raise ValueError(
            f'the model predicts {num_classes} classes, but the checkpoint '
            f'names {len(names)} and the config\'s test dataset '
            f'{len(config_names)}: set test_dataloader.dataset.metainfo.'
            f'classes in the config')
    return config_names


def _config_ann_file(cfg: Config) -> str:
    """The annotation file of the config's test dataset."""
    dataset = cfg.test_dataloader.dataset
    return osp.join(dataset.get('data_root') or '',
                    dataset.get('ann_file') or '')


def draw_predictions(config: Union[str, Path],
                     checkpoint: Union[str, Path],
                     images: Sequence[Union[str, Path]],
                     out_dir: Union[str, Path],
                     score_thr: float = 0.3,
                     device: str = 'cpu',
                     show_progress: bool = True,
                     ann_file: Union[str, Path, None] = None
                     ) -> List[DrawnPrediction]:
    """Run a detector on images and save them with its predictions drawn.

    Writes ``out_dir/vis/<image name>`` (drawing of the predictions scoring
    at least ``score_thr``), ``out_dir/preds/<image stem>.json`` and the COCO
    results file ``out_dir/results.json`` (all predictions; category ids
    from ``ann_file``, else those the checkpoint records, else the config's
    test annotation file; see :func:`.coco_results.category_ids`).

    Args:
        config (str | Path): the detector's config.
        checkpoint (str | Path): its trained weights.
        images: image files or folders of images.
        out_dir (str | Path): where the files go.
        score_thr (float): lowest score drawn, in [0, 1].
        device (str): ``'cpu'`` or ``'cuda'``.
        show_progress (bool): show the inferencer's progress bar.
        ann_file (str | Path, optional): A COCO annotation file listing the
            images (e.g. the validation file): the results then carry its
            image and category ids, and ``COCOeval`` can score them against
            it. Without it, images are numbered 1, 2, ... in order.
    """
    if not 0.0 <= score_thr <= 1.0:
        raise ValueError(f'score_thr must be in [0, 1], got {score_thr}')
    for what, path in (('config', config), ('checkpoint', checkpoint)):
        if not Path(path).is_file():
            raise FileNotFoundError(f'{what} {path} does not exist')
    check_checkpoint_file(checkpoint)
    image_files = collect_images(images)
    # An mmengine checkpoint holds numpy objects beside the weights. While
    # the inferencer is built, mmengine logs its registry fallback for the
    # collate function and the test dataset (built for its palette) that its
    # loader is no longer the checked one: noise, kept out.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with mmengine_checkpoint_globals():
            inferencer = DetInferencer(model=inference_config(config),
                                       weights=str(checkpoint),
                                       device=device,
                                       show_progress=show_progress)
    except pickle.UnpicklingError as error:
        raise refused_checkpoint(checkpoint) from error
    finally:
        logger.setLevel(level)
    classes = _class_names(inferencer)
    ids_of_classes = category_ids(classes, inferencer.model.dataset_meta,
                                  ann_file, _config_ann_file(inferencer.cfg))
    ids_of_images = image_ids(image_files, ann_file)
    inferencer.model.dataset_meta['classes'] = classes
    inferencer.visualizer.dataset_meta = inferencer.model.dataset_meta
    out_dir = Path(out_dir)
    outputs = inferencer([str(p) for p in image_files],
                         out_dir=str(out_dir),
                         pred_score_thr=score_thr,
                         no_save_pred=False)
    write_coco_results(
        out_dir / RESULTS_FILE,
        coco_results(outputs['predictions'], image_files, ids_of_images,
                     classes, ids_of_classes))
    return [
        DrawnPrediction(image=p,
                        drawn=out_dir / 'vis' / p.name,
                        predictions=out_dir / 'preds' / f'{p.stem}.json')
        for p in image_files
    ]
