"""mmdet's COCO metric over the images that the model saw.

With ``on_unreadable_image='skip'``,
:class:`~mmdet_vit_transfer.datasets.ValidatedCocoDataset` hands a black
stand-in to the model for a test image that cannot be loaded, marked with
the failure; mmdet's ``CocoMetric`` would score its empty predictions
against the image's objects. :class:`ValidatedCocoMetric` leaves such images
out, evaluates the others only, and says how many images it evaluated and
which it left out.
"""
from typing import Dict, Sequence

from mmengine.logging import MMLogger
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS

from ..datasets.transforms.checked_loading import NOT_LOADED_KEY

#: Left-out images named in the log line.
NAMED_LEFT_OUT = 10


@METRICS.register_module()
class ValidatedCocoMetric(CocoMetric):
    """``CocoMetric`` over the test images that were loaded (see the module
    docstring); arguments are those of mmdet's ``CocoMetric``.

    Attributes:
        summary (str): What the last evaluation covered, as logged.
    """
    summary = ''

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            record = sample.get(NOT_LOADED_KEY)
            if record is None:
                super().process(data_batch, [sample])
            else:
                self.results.append((NOT_LOADED_KEY, record))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """mmdet's metrics over the loaded images, after a log line that
        says how many images they cover and which were left out."""
        left_out = [record for tag, record in results
                    if tag == NOT_LOADED_KEY]
        evaluated = [result for result in results
                     if result[0] != NOT_LOADED_KEY]
        self.img_ids = sorted({gt['img_id'] for gt, _ in evaluated})
        annotated = ('' if self._coco_api is None else
                     f' of the {len(self._coco_api.get_img_ids())}')
        line = f'COCO evaluation over {len(self.img_ids)}{annotated} images'
        if left_out:
            named = '; '.join(f"{r['path']} ({r['kind']})"
                              for r in left_out[:NAMED_LEFT_OUT])
            more = (f'; and {len(left_out) - NAMED_LEFT_OUT} more'
                    if len(left_out) > NAMED_LEFT_OUT else '')
            line += (f': {len(left_out)} could not be loaded and are left '
                     f'out: {named}{more}')
        self.summary = line
        MMLogger.get_current_instance().info(line)
        if not evaluated:
            return {}
        return super().compute_metrics(evaluated)
