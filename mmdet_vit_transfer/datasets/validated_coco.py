"""A COCO dataset that checks its input and counts what it leaves out.

At construction, before any training step:

* a missing, empty or malformed annotation file, an annotation of an
  undeclared category or image, dataset classes that the file does not name
  (or names in another order), and a box-only file (no ``segmentation``)
  when masks are trained are errors
  (:class:`~.coco_file_checks.AnnotationFileError`);
* image files that do not exist are an error naming them (or, with
  ``on_missing_image='skip'``, left out and counted);
* degenerate boxes and invalid masks are dropped or clipped
  (:mod:`.instance_checks`), images left without annotations are filtered
  as ``filter_cfg`` says, and every case is counted and logged once with
  examples.

During training, an image that cannot be loaded (with
:class:`~.transforms.CheckedLoadImageFromFile` in the pipeline) is logged
and replaced by another random sample, through mmengine's refetch; the
replacement carries the record in its ``replaced_samples`` metainfo, which
:class:`~mmdet_vit_transfer.engine.hooks.SkippedSampleHook` counts across
dataloader workers and processes. At test time such an image is an error,
or with ``on_unreadable_image='skip'`` it is logged and a black stand-in
keeps its place, which :class:`~mmdet_vit_transfer.evaluation.
ValidatedCocoMetric` leaves out of the evaluation and counts.
"""
import logging
import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, List, Union

from mmengine.fileio import get_local_path
from mmengine.logging import print_log
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .coco_file_checks import (AnnotationFileError, check_class_names,
                               has_masks, load_coco_annotations)
from .instance_checks import OK, OUTCOMES, check_box, check_segmentation
from .transforms.checked_loading import (NOT_LOADED_KEY,
                                         UNREADABLE_IMAGE_POLICIES,
                                         CheckedLoadImageFromFile,
                                         ImageLoadError)

#: Metainfo key of a data sample that replaced unloadable ones.
REPLACED_SAMPLES_KEY = 'replaced_samples'
#: Outcomes counted by the dataset, next to :data:`OUTCOMES` of the checks.
DATASET_OUTCOMES = {
    'category_not_in_classes': 'annotation of a category outside the '
    "dataset's classes (dropped, as mmdet does)",
    'image_without_annotations': 'image with no usable annotation (filtered '
    'when filter_cfg.filter_empty_gt, else kept)',
    'image_too_small': 'image smaller than filter_cfg.min_size (filtered)',
    'image_missing':
    "image file not found (left out, on_missing_image='skip')",
}
MISSING_IMAGE_POLICIES = ('error', 'skip')
#: Metainfo key of the category ids of the labels (checkpoints carry it, so
#: predictions can be written with the dataset's ids).
CATEGORY_IDS_KEY = 'category_ids'
#: The box-only configs, named when a box-only file meets a Mask R-CNN.
BOX_ONLY_CONFIGS = ('configs/faster/mae_vitb_fasterrcnn_100e.py or the '
                    '*_fasterrcnn_* config of your initialisation')
EXAMPLES_PER_OUTCOME = 3


@DATASETS.register_module()
class ValidatedCocoDataset(CocoDataset):
    """:class:`mmdet.datasets.CocoDataset` with input validation (see the
    module docstring).

    Args:
        check_masks (bool): Validate ``segmentation`` and drop instances
            without a usable mask; set False for box-only training, where
            masks are not loaded. Defaults to True.
        on_missing_image (str): ``'error'`` (default) raises
            ``FileNotFoundError`` listing missing image files; ``'skip'``
            leaves their images out and counts them. Only local paths are
            checked.
        *args, **kwargs: Arguments of :class:`mmdet.datasets.CocoDataset`.

    Attributes:
        issue_counts (Counter): Outcome name to count, filled at
            construction (names in :data:`OUTCOMES` and
            :data:`DATASET_OUTCOMES`).

    The metainfo gains ``category_ids``: the file's category id of each
    label.
    """

    def __init__(self,
                 *args,
                 check_masks: bool = True,
                 on_missing_image: str = 'error',
                 on_unreadable_image: str = 'error',
                 **kwargs):
        if on_missing_image not in MISSING_IMAGE_POLICIES:
            raise ValueError(
                f'on_missing_image must be one of {MISSING_IMAGE_POLICIES}, '
                f'got {on_missing_image!r}')
        if on_unreadable_image not in UNREADABLE_IMAGE_POLICIES:
            raise ValueError(
                'on_unreadable_image must be one of '
                f'{UNREADABLE_IMAGE_POLICIES}, got {on_unreadable_image!r}')
        self.on_unreadable_image = on_unreadable_image
        self.check_masks = check_masks
        self.on_missing_image = on_missing_image
        self.issue_counts = Counter()
        self._issue_examples = defaultdict(list)
        self._replaced = []
        super().__init__(*args, **kwargs)
        if not any(
                isinstance(t, CheckedLoadImageFromFile)
                for t in getattr(self.pipeline, 'transforms', [])):
            print_log(
                f'{type(self).__name__} ({self.ann_file}): the pipeline has '
                'no CheckedLoadImageFromFile, so an unreadable image stops '
                'the run instead of being replaced and counted',
                logger='current', level=logging.WARNING)

    def load_data_list(self) -> List[dict]:
        """Read and validate the annotation file, then parse every image
        (same result as mmdet's for valid annotations)."""
        with get_local_path(
                self.ann_file, backend_args=self.backend_args) as local_path:
            data = load_coco_annotations(local_path)
        self._num_annotations = len(data['annotations'])
        classes = self.metainfo['classes']
        check_class_names(classes, data['categories'], self.ann_file)
        if self.check_masks and data['annotations'] and not has_masks(
                data['annotations']):
            raise AnnotationFileError(
                self.ann_file, 'none of its '
                f"{len(data['annotations'])} annotations has a segmentation: "
                'it is box-only, and this config trains masks (Mask R-CNN); '
                f'train it with a Faster R-CNN config ({BOX_ONLY_CONFIGS}), '
                'or one that tools/dataset_config.py writes from it')
        # mmdet's label order: categories in file order, kept if in classes.
        self.cat_ids = [
            category['id'] for category in data['categories']
            if category['name'] in classes
        ]
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self._metainfo[CATEGORY_IDS_KEY] = tuple(self.cat_ids)
        anns_of_image = defaultdict(list)
        for ann in data['annotations']:
            anns_of_image[ann['image_id']].append(ann)
        data_list = []
        for image in data['images']:
            raw_img_info = dict(image, img_id=image['id'])
            data_list.append(
                self.parse_data_info(
                    dict(raw_img_info=raw_img_info,
                         raw_ann_info=anns_of_image[image['id']])))
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Parse one image and clean its annotations (counted).

        Args:
            raw_data_info (dict): ``raw_img_info`` (a validated COCO image
                entry plus ``img_id``) and ``raw_ann_info`` (its
                annotations).

        Returns:
            dict: mmdet's data info: ``img_path``, ``img_id``,
            ``seg_map_path``, ``height``, ``width`` and ``instances`` with
            ``bbox`` (x1, y1, x2, y2 inside the image), ``bbox_label``,
            ``ignore_flag`` (crowd) and ``mask``. Annotations flagged
            ``ignore`` are left out, as mmdet does; the ``area`` field is
            not used (mmdet also drops ``area <= 0``).
        """
        img_info = raw_data_info['raw_img_info']
        data_info = super().parse_data_info(
            dict(raw_img_info=img_info, raw_ann_info=[]))
        width, height = img_info['width'], img_info['height']
        instances = []
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                continue
            where = f"annotation {ann['id']} of {img_info['file_name']}"
            if ann['category_id'] not in self.cat2label:
                self._count('category_not_in_classes', where)
                continue
            bbox, outcome = check_box(ann['bbox'], width, height)
            if outcome != OK:
                self._count(outcome, where)
            if bbox is None:
                continue
            instance = dict(
                ignore_flag=int(bool(ann.get('iscrowd', False))),
                bbox=bbox,
                bbox_label=self.cat2label[ann['category_id']])
            if self.check_masks:
                mask, outcome, dropped = check_segmentation(
                    ann.get('segmentation'), width, height)
                if outcome != OK:
                    self._count(outcome, where, dropped
                                if outcome == 'polygon_part_dropped' else 1)
                if mask is None:
                    continue
                instance['mask'] = mask
            elif ann.get('segmentation'):
                instance['mask'] = ann['segmentation']
            instances.append(instance)
        data_info['instances'] = instances
        return data_info

    def filter_data(self) -> List[dict]:
        """Count images without annotations; filter by ``filter_cfg``
        (``filter_empty_gt`` looks at the usable annotations) and check that
        image files exist."""
        for data_info in self.data_list:
            if not data_info['instances']:
                self._count('image_without_annotations',
                            osp.basename(data_info['img_path']))
        kept = self.data_list
        if not self.test_mode and self.filter_cfg is not None:
            filter_empty = self.filter_cfg.get('filter_empty_gt', False)
            min_size = self.filter_cfg.get('min_size', 0)
            kept = []
            for data_info in self.data_list:
                if filter_empty and not data_info['instances']:
                    continue
                if min(data_info['width'], data_info['height']) < min_size:
                    self._count('image_too_small',
                                osp.basename(data_info['img_path']))
                    continue
                kept.append(data_info)
        kept = self._check_image_files(kept)
        self._log_issues(len(self.data_list), len(kept))
        if not kept:
            raise AnnotationFileError(self.ann_file, self._why_no_image())
        return kept

    def _why_no_image(self) -> str:
        """Why filtering left no image, for the error of an empty dataset."""
        if not self.data_list:
            return "its 'images' list is empty: there is nothing to use"
        counts = ', '.join(
            f'{self.issue_counts[name]} {name}'
            for name in ('image_without_annotations', 'image_too_small',
                         'image_missing') if self.issue_counts[name])
        problem = f'none of its {len(self.data_list)} images is usable ' \
            f'({counts})'
        if self._num_annotations == 0:
            problem += "; its 'annotations' list is empty"
        elif self.issue_counts['image_without_annotations'] == len(
                self.data_list):
            problem += '; every annotation was dropped (see the input ' \
                'checks above) or belongs to a category outside the ' \
                "dataset's classes"
        if self.filter_cfg and self.filter_cfg.get('filter_empty_gt'):
            problem += ('. Training needs images with objects '
                        '(filter_cfg.filter_empty_gt=True drops the others)')
        return problem

    def _check_image_files(self, data_list: List[dict]) -> List[dict]:
        """Missing local image files: an error, or left out and counted."""
        remote = self.backend_args or (data_list
                                       and '://' in data_list[0]['img_path'])
        if remote:
            return data_list
        missing = [d for d in data_list if not osp.isfile(d['img_path'])]
        if not missing:
            return data_list
        if self.on_missing_image == 'error':
            names = ', '.join(d['img_path'] for d in missing[:10])
            more = f' and {len(missing) - 10} more' if len(missing) > 10 \
                else ''
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} images listed in '
                f'{self.ann_file} do not exist: {names}{more}. Check '
                "data_root and data_prefix, or set on_missing_image='skip' "
                'to train without them')
        for data_info in missing:
            self._count('image_missing', data_info['img_path'])
        missing_ids = {id(d) for d in missing}
        return [d for d in data_list if id(d) not in missing_ids]

    def _count(self, outcome: str, where: str, n: int = 1) -> None:
        self.issue_counts[outcome] += n
        if len(self._issue_examples[outcome]) < EXAMPLES_PER_OUTCOME:
            self._issue_examples[outcome].append(where)

    def issue_report(self) -> str:
        """What the checks at construction found: one line per outcome with
        its count, meaning and up to three examples ('' if nothing)."""
        descriptions = dict(OUTCOMES, **DATASET_OUTCOMES)
        return '\n'.join(
            f'  {count:6d} {name}: {descriptions[name]}; e.g. ' +
            '; '.join(self._issue_examples[name])
            for name, count in sorted(self.issue_counts.items()))

    def _log_issues(self, num_images: int, num_kept: int) -> None:
        summary = f'{self.ann_file}: {num_images} images, {num_kept} used'
        if not self.issue_counts:
            print_log(f'{summary}; annotations passed every check',
                      logger='current')
            return
        print_log(f'{summary}; input checks:\n{self.issue_report()}',
                  logger='current', level=logging.WARNING)

    def prepare_data(self, idx: int):
        """Run the pipeline; an :class:`ImageLoadError` is recorded and
        gives None (mmengine then draws another sample) while training, and
        at test time is raised or, with ``on_unreadable_image='skip'``,
        gives the sample of a black stand-in marked with the failure."""
        try:
            return super().prepare_data(idx)
        except ImageLoadError as error:
            if self.test_mode and self.on_unreadable_image == 'error':
                raise
            if self.test_mode:
                print_log(f'cannot load test image {error}; it is left out '
                          'of the evaluation', logger='current',
                          level=logging.WARNING)
                data_info = dict(self.get_data_info(idx),
                                 **{NOT_LOADED_KEY: error.record})
                data = self.pipeline(data_info)
                data['data_samples'].set_metainfo(
                    {NOT_LOADED_KEY: error.record})
                return data
            self._replaced.append(
                dict(path=error.path, kind=error.kind, detail=error.detail))
            print_log(f'cannot load image {error}; the sample is replaced '
                      'by another one', logger='current',
                      level=logging.WARNING)
            return None

    def __getitem__(self, idx: int) -> Dict:
        data = super().__getitem__(idx)
        if self._replaced and isinstance(data, dict) and \
                'data_samples' in data:
            data['data_samples'].set_metainfo(
                {REPLACED_SAMPLES_KEY: self._replaced})
            self._replaced = []
        return data
