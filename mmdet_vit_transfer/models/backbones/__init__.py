from .itpn import ITPNHiViT
from .plain_vit import PlainViTPyramid

__all__ = ['ITPNHiViT', 'PlainViTPyramid']
