from .simple_adapter import ViTSimpleAdapterNeck

__all__ = ['ViTSimpleAdapterNeck']
