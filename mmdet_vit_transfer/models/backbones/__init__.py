from .plain_vit import PlainViTPyramid

__all__ = ['PlainViTPyramid']
