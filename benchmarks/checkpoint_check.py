"""Seconds to check a checkpoint file before it is loaded or resumed.

Writes one ``torch.save`` checkpoint of about ``--gigabytes`` GB (ViT-style
tensors: a 1024 x 4096 float32 matrix is 16 MiB) to ``--dir``, then times,
best of ``--repeats``:

- ``check_checkpoint_file``: what ``--resume``, ``load_from`` and the test
  checkpoint get (the zip directory and one header per record);
- ``check_checkpoint_file(verify_checksums=True)``: the same and the CRC of
  every record, which reads the whole file;
- ``is_complete_checkpoint``: what ``--resume`` without a path and the
  benchmark launcher ask of every candidate.

Each check is timed with the file in the page cache (``warm``) and with its
pages dropped from the cache before each try (``cold``,
``posix_fadvise(DONTNEED)`` on this file only). Prints a markdown table.

    python benchmarks/checkpoint_check.py [--gigabytes 1] [--repeats 3]
        [--dir /tmp]
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from mmdet_vit_transfer.utils.checkpoint_files import (check_checkpoint_file,
                                                       is_complete_checkpoint)

TENSOR_SHAPE = (1024, 4096)


def write_checkpoint(path: Path, gigabytes: float) -> int:
    """A checkpoint of ``gigabytes`` GB of float32 tensors; returns its
    number of tensors."""
    per_tensor = TENSOR_SHAPE[0] * TENSOR_SHAPE[1] * 4
    count = max(1, round(gigabytes * 1e9 / per_tensor))
    torch.save({'state_dict': {f'blocks.{i}.mlp.fc1.weight':
                               torch.randn(TENSOR_SHAPE)
                               for i in range(count)}}, path)
    return count


def drop_from_cache(path: Path) -> None:
    """Evict the file's pages from the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def best_seconds(function, repeats: int, before=lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--gigabytes', type=float, default=1.0)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--dir', default=None,
                        help='where the file is written (default: a '
                        'temporary folder)')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / 'epoch_1.pth'
        count = write_checkpoint(path, args.gigabytes)
        size = path.stat().st_size
        rows = [
            ('check_checkpoint_file', lambda: check_checkpoint_file(path)),
            ('check_checkpoint_file(verify_checksums=True)',
             lambda: check_checkpoint_file(path, verify_checksums=True)),
            ('is_complete_checkpoint', lambda: is_complete_checkpoint(path)),
        ]
        print(f'\n{size / 1e9:.2f} GB checkpoint, {count} tensors, best of '
              f'{args.repeats}\n')
        print('| check | warm (s) | cold (s) |\n|---|---|---|')
        for name, function in rows:
            warm = best_seconds(function, args.repeats)
            cold = best_seconds(function, args.repeats,
                                lambda: drop_from_cache(path))
            print(f'| {name} | {warm:.4f} | {cold:.4f} |')


if __name__ == '__main__':
    main()
