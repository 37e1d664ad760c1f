"""How far a running training stage is: the last training line that
mmengine's logger wrote to ``<work_dir>/<timestamp>/<timestamp>.log``, e.g.
``Epoch(train) [3][120/1848] ... eta: 1 day, 2:03:04 ...``."""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

EPOCH_LINE = re.compile(r'Epoch\(train\)\s+\[(?P<epoch>\d+)\]'
                        r'\[\s*(?P<iter>\d+)/(?P<iters>\d+)\]'
                        r'.*?eta: (?P<eta>(\d+ days?, )?[\d:]+)')
ITER_LINE = re.compile(r'Iter\(train\)\s+\[\s*(?P<iter>\d+)/(?P<iters>\d+)\]'
                       r'.*?eta: (?P<eta>(\d+ days?, )?[\d:]+)')


@dataclass(frozen=True)
class TrainingProgress:
    """Where training was at its last logged iteration.

    Args:
        epoch (int | None): the epoch (1-based), None for iteration-based
            training.
        iter (int): iteration within the epoch (or of the whole run).
        iters (int): iterations per epoch (or of the whole run).
        eta (str): mmengine's estimate of the time left, ``H:MM:SS``.
    """
    epoch: Optional[int]
    iter: int
    iters: int
    eta: str

    def describe(self, max_epochs: Optional[int] = None) -> str:
        if self.epoch is None:
            return f'iter {self.iter}/{self.iters}, eta {self.eta}'
        of = f'/{max_epochs}' if max_epochs else ''
        return (f'epoch {self.epoch}{of} (iter {self.iter}/{self.iters}), '
                f'eta {self.eta}')


def training_progress(work_dir: Union[str, Path]
                      ) -> Optional[TrainingProgress]:
    """The progress logged last in ``work_dir``'s newest log, None before
    its first logged iteration."""
    logs = sorted(Path(work_dir).glob('*/*.log'))
    if not logs:
        return None
    for line in reversed(logs[-1].read_text(errors='replace').splitlines()):
        match = EPOCH_LINE.search(line) or ITER_LINE.search(line)
        if match:
            epoch = match.groupdict().get('epoch')
            return TrainingProgress(
                epoch=int(epoch) if epoch else None,
                iter=int(match['iter']),
                iters=int(match['iters']),
                eta=match['eta'])
    return None
