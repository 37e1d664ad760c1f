"""The paper's published results: COCO val2017 box AP / mask AP of Mask
R-CNN with the plain ViT (Li et al. 2021, results table), as the README and
docs/paper_facts.md give them with their sources."""
from typing import Dict, Optional, Tuple

#: (init, size) -> (box AP, mask AP) at the best schedule the paper tried.
PUBLISHED_BEST: Dict[Tuple[str, str], Tuple[float, float]] = {
    ('random', 'b'): (48.9, 43.6),
    ('random', 'l'): (50.7, 44.9),
    ('supervised', 'b'): (47.9, 42.9),
    ('supervised', 'l'): (49.3, 43.9),
    ('mocov3', 'b'): (47.9, 42.7),
    ('mocov3', 'l'): (49.3, 44.0),
    ('beit', 'b'): (49.8, 44.4),
    ('beit', 'l'): (53.3, 47.1),
    ('mae', 'b'): (50.3, 44.9),
    ('mae', 'l'): (53.3, 47.2),
}
#: (init, size, epochs) -> (box AP, mask AP) where a source gives the value
#: of one schedule (MAE ViT-B, MAE issue #43).
PUBLISHED_BY_SCHEDULE: Dict[Tuple[str, str, int], Tuple[float, float]] = {
    ('mae', 'b', 25): (48.1, 43.2),
    ('mae', 'b', 50): (50.1, 44.6),
    ('mae', 'b', 100): (50.3, 44.9),
}


def published(init: str, size: str,
              epochs: Optional[int] = None) -> Optional[Tuple[float, float]]:
    """The published box / mask AP of an entry of the main table (epochs
    None) or of one schedule; None where the paper gives none."""
    if epochs is None:
        return PUBLISHED_BEST.get((init, size))
    return PUBLISHED_BY_SCHEDULE.get((init, size, epochs))
