"""Data pipelines in configs: one pipeline at another input size, a
dataloader without masks, and the padding value that each config's own pixel normalisation turns into 0.

Padding before normalisation (``LargeScaleJitter``, ``PadToSize``, mmcv's
``Pad``) must fill with the pixel mean of the model's ``data_preprocessor``,
in the channel order of the loaded image (BGR, reversed when the
preprocessor converts to RGB), so that the border is 0 for the backbone as
the padding after normalisation (``BatchFixedSizePad``, the preprocessor's
own) is. A config leaves that value out; :func:`fill_pad_values` derives it
from the config's ``data_preprocessor`` when the config is built (the
package's runner, :func:`~mmdet_vit_transfer.analysis.inference.
draw_predictions`), so a config with another normalisation (BEiT's
127.5 / 127.5, CLIP's, SigLIP's) pads correctly without restating it.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: Transforms that pad an image before normalisation, with the argument
#: that holds the padding value and, for a dict, the key of the image's.
IMAGE_PADDING = {
    'LargeScaleJitter': ('pad_val', 'img'),
    'PadToSize': ('pad_val', None),
    'Pad': ('pad_val', 'img'),
}


def at_image_size(pipeline: Sequence[dict], image_size: Tuple[int, int],
                  **jitter: Any) -> List[dict]:
    """``pipeline`` with its fixed input size set to ``image_size`` ``(w,
    h)``: the ``scale`` of ``LargeScaleJitter`` and ``Resize`` and the
    ``size`` of ``PadToSize``; ``jitter`` replaces more arguments of
    ``LargeScaleJitter`` (such as ``ratio_range``).

    For configs that inherit a pipeline at another size (the import after
    ``_base_``, which keeps mmengine's reading of the file as it is)::

        _base_ = './toy_vit_tiny_maskrcnn.py'
        from mmdet_vit_transfer.datasets import at_image_size

        train_pipeline = at_image_size(_base_.train_pipeline, (192, 192))
    """
    changes = {
        'LargeScaleJitter': dict(scale=tuple(image_size), **jitter),
        'Resize': dict(scale=tuple(image_size)),
        'PadToSize': dict(size=tuple(image_size)),
    }
    return [
        dict(transform, **changes.get(transform['type'], {}))
        for transform in pipeline
    ]


def without_masks(pipeline: Sequence[dict]) -> List[dict]:
    """``pipeline`` loading boxes only: its annotation loading (polygons or
    masks) becomes ``LoadAnnotations(with_bbox=True)``; every other
    transform stays."""
    loads = ('LoadAnnotations', 'LoadPolygonAnnotations')
    return [
        dict(type='LoadAnnotations', with_bbox=True)
        if transform['type'] in loads else dict(transform)
        for transform in pipeline
    ]


def box_only_dataloader(dataloader: Dict[str, Any]) -> Dict[str, Any]:
    """A Mask R-CNN config's dataloader for box-only annotations: its
    dataset's pipeline :func:`without_masks` and masks not checked
    (``ValidatedCocoDataset(check_masks=False)``). For box-only configs, as
    :func:`at_image_size`::

        train_dataloader = box_only_dataloader(_base_.train_dataloader)
    """
    dataset = dict(dataloader['dataset'], check_masks=False,
                   pipeline=without_masks(dataloader['dataset']['pipeline']))
    return dict(dataloader, dataset=dataset)


def zero_after_normalisation(data_preprocessor: Dict[str, Any]
                             ) -> Optional[Tuple[int, ...]]:
    """The 8-bit pixel, per channel of the loaded (BGR) image, closest to
    the one that ``data_preprocessor`` normalises to 0: its mean, reversed
    when it converts BGR to RGB. None when it does not normalise."""
    mean = data_preprocessor.get('mean')
    if mean is None:
        return None
    if data_preprocessor.get('bgr_to_rgb') or data_preprocessor.get(
            'rgb_to_bgr'):
        mean = list(mean)[::-1]
    return tuple(int(round(value)) for value in mean)


def _fill(node: Any, pad: Tuple[int, ...]) -> None:
    """Set the image padding of every padding transform below ``node``
    whose config leaves it out."""
    if isinstance(node, dict):
        argument = IMAGE_PADDING.get(node.get('type'))
        if argument is not None:
            name, key = argument
            if key is None:
                node.setdefault(name, pad)
            else:
                value = node.get(name)
                if value is None:
                    node[name] = {key: pad}
                elif isinstance(value, dict):
                    value.setdefault(key, pad)
        for value in node.values():
            _fill(value, pad)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _fill(value, pad)


def fill_pad_values(cfg):
    """``cfg`` (an mmengine ``Config``, changed in place and returned) with
    the image padding of every transform of :data:`IMAGE_PADDING` that it
    leaves out set to :func:`zero_after_normalisation` of its
    ``model.data_preprocessor``, in every pipeline of the config."""
    preprocessor = (cfg.get('model') or {}).get('data_preprocessor')
    pad = None if preprocessor is None else zero_after_normalisation(
        preprocessor)
    if pad is None:
        return cfg
    for key in list(cfg.keys()):
        if key != 'model':
            _fill(cfg[key], pad)
    return cfg

