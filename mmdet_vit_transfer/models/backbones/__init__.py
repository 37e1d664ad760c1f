from .plain_vit import PlainViTPyramid

__all__ = ['PlainViTPyramid']
from .itpn import ITPNHiViT

__all__ += ['ITPNHiViT']
