from .cpu import has_native_bfloat16
from .run_results import (coco_metrics_table, last_coco_metrics,
                          plot_training_curves, training_curves)

__all__ = [
    'coco_metrics_table', 'has_native_bfloat16', 'last_coco_metrics',
    'plot_training_curves', 'training_curves'
]
