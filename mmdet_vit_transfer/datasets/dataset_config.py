"""Write the config that trains a detector config on a COCO-format dataset of
one's own.

The written config inherits a *base* config (an initialisation's Mask R-CNN
or Faster R-CNN config, or a toy one) and states only the data: the data
root, the annotation files and image folders of the training and validation
splits, the class names (the training file's ``categories``, in file order)
and ``num_classes`` of every head. Both annotation files are read and checked
first (:mod:`.coco_file_checks`); they must have the same categories, and a
box-only file (no ``segmentation``) needs a base that trains boxes only.
"""
import os
import os.path as osp
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Tuple, Union

from mmengine.config import Config

from ..utils.errors import UserInputError
from .class_count import head_num_classes
from .coco_file_checks import AnnotationFileError, has_masks, \
    load_coco_annotations
from .validated_coco import BOX_ONLY_CONFIGS

#: Splits written, and the layout of their files under the data root.
DEFAULT_LAYOUT = dict(
    train_ann='annotations/instances_train.json',
    train_images='train/',
    val_ann='annotations/instances_val.json',
    val_images='val/')


class DatasetConfigError(UserInputError, ValueError):
    """Data that the base config cannot train on."""


@dataclass
class AnnotationSummary:
    """What an annotation file holds.

    Args:
        path (Path): The file.
        num_images (int): Entries of ``images``.
        num_annotations (int): Entries of ``annotations``.
        categories (tuple): ``(name, id)`` of each category, in file order.
        has_masks (bool): Whether any annotation has a ``segmentation``.
    """
    path: Path
    num_images: int
    num_annotations: int
    categories: Tuple[Tuple[str, int], ...]
    has_masks: bool

    @property
    def classes(self) -> Tuple[str, ...]:
        return tuple(name for name, _ in self.categories)

    def describe(self) -> str:
        """One line: counts, masks or boxes only, classes with their ids."""
        classes = ', '.join(f'{name} ({i})' for name, i in self.categories)
        kind = 'with masks' if self.has_masks else 'boxes only'
        return (f'{self.num_images} images, {self.num_annotations} '
                f'annotations, {kind}; {len(self.categories)} classes '
                f'(category id): {classes}')


def summarize_annotations(path: Union[str, Path]) -> AnnotationSummary:
    """Read and check a COCO annotation file, and summarise it.

    Raises:
        AnnotationFileError: The file is missing or malformed.
    """
    data = load_coco_annotations(path)
    return AnnotationSummary(
        path=Path(path),
        num_images=len(data['images']),
        num_annotations=len(data['annotations']),
        categories=tuple((c['name'], c['id']) for c in data['categories']),
        has_masks=has_masks(data['annotations']))


def trains_masks(cfg: Config) -> bool:
    """Whether the config's detector has a mask head."""
    roi_head = cfg.model.get('roi_head') or {}
    return roi_head.get('mask_head') is not None


class _Name:
    """A config variable, written as its bare name."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


def num_classes_override(model_cfg: Any, value: Any) -> dict:
    """The part of a model config that sets every head's ``num_classes``
    (see :func:`~.class_count.head_num_classes`) to ``value``.

    A list on the way (a cascade's box heads) is copied whole with the
    values replaced, since mmengine replaces lists instead of merging them.
    """
    override = {}
    for key, _ in head_num_classes(model_cfg):
        parts = key.split('.')[1:]  # without 'model'
        node, src = override, model_cfg
        for part in parts[:-1]:
            src = src[part]
            if isinstance(src, (list, tuple)):
                node[part] = _with_num_classes(src, value)
                break
            node = node.setdefault(part, {})
        else:
            node['num_classes'] = value
    return override


def _with_num_classes(cfg: Any, value: Any) -> Any:
    """A copy of ``cfg`` with every ``num_classes`` set to ``value``."""
    if isinstance(cfg, dict):
        return {k: value if k == 'num_classes' else _with_num_classes(v, value)
                for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [_with_num_classes(v, value) for v in cfg]
    return cfg


def _one_line(value: Any) -> str:
    if isinstance(value, dict):
        return 'dict(' + ', '.join(f'{k}={_one_line(v)}'
                                   for k, v in value.items()) + ')'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(map(_one_line, value)) + ']'
    return repr(value)


def _source(value: Any, indent: int = 0, column: int = 0,
            width: int = 79) -> str:
    """Python source of a config value, dicts as ``dict(...)``: on one
    line when it fits in ``width`` from ``column``, else one item a line at
    ``indent`` + 4."""
    line = _one_line(value)
    if column + len(line) <= width or not isinstance(
            value, (dict, list, tuple)) or not value:
        return line
    pad = ' ' * (indent + 4)
    if isinstance(value, dict):
        items = ',\n'.join(
            f'{pad}{k}=' + _source(v, indent + 4, len(pad) + len(k) + 1)
            for k, v in value.items())
        return f'dict(\n{items})'
    items = ',\n'.join(pad + _source(v, indent + 4, len(pad)) for v in value)
    return f'[\n{items}\n{" " * indent}]'


def box_only_counterpart(base: Union[str, Path]) -> Optional[Path]:
    """The Faster R-CNN config of a Mask R-CNN config (``*_maskrcnn_*`` ->
    ``*_fasterrcnn_*``), beside it or in the configs' ``faster/`` folder
    (``configs/dinov2/X_maskrcnn_100e.py`` -> ``configs/faster/X_fasterrcnn_
    100e.py``), if there is one."""
    base = Path(base)
    name = base.name.replace('maskrcnn', 'fasterrcnn')
    if name == base.name:
        return None
    for folder in (base.parent, base.parent / 'faster',
                   base.parent.parent / 'faster'):
        if (folder / name).is_file():
            return folder / name
    return None


def dataset_config_text(base: Union[str, Path], out: Union[str, Path],
                        data_root: str, layout: dict,
                        train: AnnotationSummary, base_cfg: Config) -> str:
    """The text of the config (see the module docstring)."""
    base_path, out_dir = osp.abspath(base), osp.dirname(osp.abspath(out))
    # Relative when both lie under one folder (a clone), else absolute.
    base_rel = osp.relpath(base_path, out_dir) if osp.commonpath(
        [base_path, out_dir]) != osp.sep else base_path
    data_root = data_root.rstrip('/') + '/'
    model = num_classes_override(base_cfg.model, _Name('num_classes'))
    splits = {}
    for split in ('train', 'val'):
        splits[split] = _source(
            column=len(f'{split}_dataloader = '),
            value=dict(dataset=dict(
                data_root=_Name('data_root'),
                metainfo=dict(classes=_Name('classes')),
                ann_file=layout[f'{split}_ann'],
                data_prefix=dict(img=layout[f'{split}_images']))))
    return f'''# {Path(base).name} trained on the COCO-format dataset in {data_root}
# Written by tools/dataset_config.py from its training file:
# {train.describe()}.
# Paths are relative to the directory that training runs in.
_base_ = {base_rel!r}

data_root = {data_root!r}
# The training file's categories, in its order (labels follow it).
classes = {train.classes!r}
num_classes = {len(train.classes)}

model = {_source(model, column=8)}
train_dataloader = {splits['train']}
val_dataloader = {splits['val']}
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + {layout['val_ann']!r})
test_evaluator = val_evaluator
'''


def write_dataset_config(base: Union[str, Path],
                         data_root: Union[str, Path],
                         out: Union[str, Path],
                         **layout: str) -> AnnotationSummary:
    """Check a dataset against a base config and write the config that
    trains the base on it.

    Args:
        base (str | Path): The config to inherit.
        data_root (str | Path): The dataset root, as training will see it
            (relative to the directory it runs in, or absolute).
        out (str | Path): The config file to write (folders created).
        **layout (str): ``train_ann``, ``train_images``, ``val_ann``,
            ``val_images`` relative to ``data_root`` (defaults:
            :data:`DEFAULT_LAYOUT`).

    Returns:
        AnnotationSummary: The training file's.

    Raises:
        FileNotFoundError: The base config or an image folder is missing.
        AnnotationFileError: An annotation file is missing or malformed.
        DatasetConfigError: The two files' categories differ, or a box-only
            file is given to a base that trains masks.
    """
    unknown = set(layout) - set(DEFAULT_LAYOUT)
    if unknown:
        raise TypeError(f'unknown layout keys {sorted(unknown)}; valid: '
                        f'{sorted(DEFAULT_LAYOUT)}')
    layout = dict(DEFAULT_LAYOUT, **layout)
    if not Path(base).is_file():
        raise FileNotFoundError(f'base config {base} does not exist')
    root = Path(data_root)
    summaries = {}
    for split in ('train', 'val'):
        folder = root / layout[f'{split}_images']
        if not folder.is_dir():
            raise FileNotFoundError(
                f'{split} image folder {folder} does not exist')
        summaries[split] = summarize_annotations(root / layout[f'{split}_ann'])
    train, val = summaries['train'], summaries['val']
    if train.categories != val.categories:
        raise DatasetConfigError(
            f'the categories of {train.path} {list(train.categories)} and of '
            f'{val.path} {list(val.categories)} differ; both splits need the '
            'same (name, id) categories in the same order')
    base_cfg = Config.fromfile(str(base))
    if trains_masks(base_cfg):
        for summary in (train, val):
            if summary.num_annotations and not summary.has_masks:
                counterpart = box_only_counterpart(base)
                raise DatasetConfigError(
                    f'{summary.path} is box-only (none of its '
                    f'{summary.num_annotations} annotations has a '
                    f'segmentation), and {base} trains masks (Mask R-CNN): '
                    'use a Faster R-CNN base, ' +
                    (str(counterpart) if counterpart else BOX_ONLY_CONFIGS))
    if not train.num_annotations:
        raise AnnotationFileError(train.path,
                                  "its 'annotations' list is empty")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = dataset_config_text(base, out, os.fspath(data_root), layout,
                               train, base_cfg)
    out.write_text(text)
    return train
