"""Load instance annotations with the masks kept as polygons.

mmdet's ``LoadAnnotations`` rasterises every polygon into a full-image
bitmap by default (``poly2mask=True``): each training image then carries one
``H x W`` array per object through resizing, cropping, flipping and padding,
most of it pixels the mask head never looks at. With ``poly2mask=False`` it
keeps polygons but silently ignores every RLE mask, crowd or not.

:class:`LoadPolygonAnnotations` keeps the polygons of an image whose masks
are all polygons (COCO's non-crowd annotations), so the geometric transforms
move a few vertices and the mask head rasterises each polygon only inside
its RoI (``PolygonMasks.crop_and_resize``), as detectron2 does. An image with
any RLE mask (a crowd region, or a data set stored as RLE) gets bitmaps for
all its masks, exactly as ``LoadAnnotations`` gives them.
"""
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import TRANSFORMS
from mmdet.structures.mask import BitmapMasks, PolygonMasks


@TRANSFORMS.register_module()
class LoadPolygonAnnotations(LoadAnnotations):
    """``LoadAnnotations`` whose masks stay polygons unless the image has an
    RLE mask.

    Arguments are those of mmdet's ``LoadAnnotations`` but ``poly2mask``,
    which this transform decides per image. Invalid polygons (fewer than
    three points or an odd number of coordinates) are handled as
    ``LoadAnnotations`` handles them: the instance is ignored.
    """

    def __init__(self, **kwargs):
        if 'poly2mask' in kwargs:
            raise ValueError(
                'LoadPolygonAnnotations decides poly2mask per image (polygons '
                'unless the image has an RLE mask); got poly2mask='
                f'{kwargs["poly2mask"]!r}. Use mmdet\'s LoadAnnotations to '
                'fix it for every image.')
        # poly2mask=True makes _process_masks accept RLE masks.
        super().__init__(poly2mask=True, **kwargs)

    def _load_masks(self, results: dict) -> None:
        """Set ``results['gt_masks']``: ``PolygonMasks`` when every mask is
        a polygon list, ``BitmapMasks`` otherwise.

        Args:
            results (dict): Result dict with ``instances`` and ``ori_shape``.
        """
        h, w = results['ori_shape']
        masks = self._process_masks(results)
        if any(isinstance(mask, dict) for mask in masks):
            results['gt_masks'] = BitmapMasks(
                [self._poly2mask(mask, h, w) for mask in masks], h, w)
        else:
            results['gt_masks'] = PolygonMasks(masks, h, w)
