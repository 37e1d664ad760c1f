from .fused_roi_extractor import FusedRoIExtractor

__all__ = ['FusedRoIExtractor']
