"""Choose the checkpoint that ``--resume`` continues from.

mmengine resumes from the file named in ``<work_dir>/last_checkpoint``. That
pointer is written after the checkpoint, with a plain ``open('w')``, and
checkpoints written without :class:`AtomicLocalBackend` can be truncated by
a kill; either way an interrupted run could refuse to resume. Here the
pointer is followed only if it names a complete checkpoint; otherwise the
newest complete ``epoch_N.pth`` / ``iter_N.pth`` is used, and the reason is
logged.
"""
import logging
import re
from pathlib import Path
from typing import Optional, Union

from mmengine.logging import print_log

from ..utils.checkpoint_files import is_complete_checkpoint

LAST_CHECKPOINT = 'last_checkpoint'
STEP_CHECKPOINT = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def find_resumable_checkpoint(work_dir: Union[str, Path]) -> Optional[str]:
    """The checkpoint to resume a run in ``work_dir`` from.

    Args:
        work_dir (str | Path): The run's work dir.

    Returns:
        str | None: The file named in ``last_checkpoint`` if it is complete,
        else the complete ``epoch_N.pth`` or ``iter_N.pth`` with the largest
        N in the folder of that file or in ``work_dir``; None if there is
        none (the run starts from scratch).
    """
    work_dir = Path(work_dir)
    folders = [work_dir]
    pointer = work_dir / LAST_CHECKPOINT
    if pointer.is_file():
        named = pointer.read_text().strip()
        if named and is_complete_checkpoint(named):
            return named
        problem = (f'names {named}, which is missing or incomplete'
                   if named else 'is empty')
        print_log(f'{pointer} {problem}; looking for the newest complete '
                  'checkpoint instead', logger='current',
                  level=logging.WARNING)
        if named and Path(named).parent != work_dir:
            folders.insert(0, Path(named).parent)
    candidates = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = STEP_CHECKPOINT.match(path.name)
            if match:
                candidates.append((int(match.group(2)), str(path)))
    for _, path in sorted(candidates, reverse=True):
        if is_complete_checkpoint(path):
            return path
        print_log(f'skipping incomplete checkpoint {path}', logger='current',
                  level=logging.WARNING)
    return None
