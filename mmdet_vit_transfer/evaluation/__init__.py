from .coco_metric import ValidatedCocoMetric

__all__ = ['ValidatedCocoMetric']
