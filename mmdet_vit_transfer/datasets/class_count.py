"""The number of classes of a detector's heads against its datasets' classes.

mmdet builds each head with its ``num_classes`` and each dataset with its
``metainfo.classes``, and never compares them: a head with more outputs than
the dataset has classes trains without a word and fails only when its
predictions are evaluated (``CocoMetric.results2json``: ``IndexError``), one
with fewer fails on the first label it cannot hold. :func:`check_num_classes`
compares them in the config, before anything is built; the runner calls it.
"""
import os.path as osp
from typing import Any, List, Optional, Tuple

from mmengine.fileio import list_from_file
from mmdet.registry import DATASETS

from ..utils.errors import UserInputError

SPLITS = ('train', 'val', 'test')


class NumClassesError(UserInputError, ValueError):
    """A head's ``num_classes`` that is not the number of dataset
    classes, or dataset classes that are not a sequence of names."""


def head_num_classes(model_cfg: Any, key: str = 'model'
                     ) -> List[Tuple[str, int]]:
    """Every ``num_classes`` of a model config, with its config key, except
    under ``rpn_head`` (object or not: one class whatever the dataset).

    Args:
        model_cfg: The model config (dicts and lists).
        key (str): Its key, the prefix of the keys returned.

    Returns:
        list[tuple[str, int]]: E.g. ``[('model.roi_head.bbox_head.
        num_classes', 80), ...]`` in config order.
    """
    found = []
    if isinstance(model_cfg, dict):
        for name, value in model_cfg.items():
            if name == 'rpn_head':
                continue
            if name == 'num_classes':
                found.append((f'{key}.num_classes', value))
            else:
                found += head_num_classes(value, f'{key}.{name}')
    elif isinstance(model_cfg, (list, tuple)):
        for i, value in enumerate(model_cfg):
            found += head_num_classes(value, f'{key}.{i}')
    return found


def dataset_classes(dataset_cfg: Any, key: str
                    ) -> Optional[Tuple[str, ...]]:
    """The class names a dataset config gives: its ``metainfo.classes``
    (a sequence of names, or a text file of one name a line, as mmengine
    reads it), else its type's ``METAINFO`` (mmdet's ``CocoDataset``:
    COCO's 80); a wrapper's (``dataset=...``) inner dataset. None when the
    type is unknown here or gives no classes.

    Raises:
        NumClassesError: ``classes`` is a single string that is not a file.
    """
    if not isinstance(dataset_cfg, dict):
        return None
    if 'dataset' in dataset_cfg:
        return dataset_classes(dataset_cfg['dataset'], f'{key}.dataset')
    classes = (dataset_cfg.get('metainfo') or {}).get('classes')
    if classes is None:
        dataset_type = dataset_cfg.get('type')
        if isinstance(dataset_type, str):
            dataset_type = DATASETS.get(dataset_type)
        classes = getattr(dataset_type, 'METAINFO', {}).get('classes')
        if classes is None:
            return None
    if isinstance(classes, str):
        if not osp.isfile(classes):
            raise NumClassesError(
                f'{key}.metainfo.classes is the string {classes!r}; it must '
                f"be a tuple of class names (one class: ('{classes}',)) or "
                'a text file of one name a line')
        classes = list_from_file(classes)
    return tuple(classes)


def check_num_classes(cfg: Any) -> None:
    """Every head must have as many classes as every dataset of the config.

    Args:
        cfg: The full config (``model``, ``{train,val,test}_dataloader``).

    Raises:
        NumClassesError: Naming the head's key and value, the dataset and
            its classes, and what to set.
    """
    heads = head_num_classes(cfg.get('model', {}))
    for split in SPLITS:
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, dict):
            continue
        key = f'{split}_dataloader.dataset'
        classes = dataset_classes(loader.get('dataset'), key)
        if classes is None:
            continue
        for head_key, num_classes in heads:
            if num_classes != len(classes):
                shown = classes if len(classes) <= 10 else \
                    classes[:10] + ('...', )
                raise NumClassesError(
                    f'{head_key} is {num_classes}, but {key} has '
                    f'{len(classes)} classes {shown}: set num_classes='
                    f'{len(classes)} in every head (tools/dataset_config.py '
                    'writes classes and num_classes from the annotation file)')
