from .run_results import coco_metrics_table, last_coco_metrics

__all__ = ['coco_metrics_table', 'last_coco_metrics']
