"""Write files so that a kill never leaves a truncated one at their path.

A checkpoint is written to a hidden temporary file next to its destination,
flushed to disk, and renamed over the destination in one step
(``os.replace``), so the path holds either the previous complete file or the
new complete file. :class:`AtomicLocalBackend` is mmengine's local file
backend writing this way; the runtime config gives it to the
``CheckpointHook`` (``backend_args=dict(backend='atomic_local')``), which
then writes checkpoints and the best-checkpoint files atomically.
"""
import os
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Union

from mmengine.fileio import LocalBackend, register_backend

#: Name under which :class:`AtomicLocalBackend` is registered in mmengine.
ATOMIC_BACKEND = 'atomic_local'
PARTIAL_SUFFIX = '.partial'


def partial_path(path: Union[str, Path]) -> Path:
    """The temporary file that :func:`atomic_write` fills for ``path``:
    ``.<name>.<pid>.partial`` in the same folder (a rename only replaces
    a file atomically within one file system)."""
    path = Path(path)
    return path.with_name(f'.{path.name}.{os.getpid()}{PARTIAL_SUFFIX}')


def stale_partials(path: Union[str, Path]) -> list:
    """Temporary files left for ``path`` by writers that were killed."""
    path = Path(path)
    prefix = f'.{path.name}.'
    if not path.parent.is_dir():
        return []
    return sorted(
        path.parent / name for name in os.listdir(path.parent)
        if name.startswith(prefix) and name.endswith(PARTIAL_SUFFIX))


@contextmanager
def atomic_write(path: Union[str, Path],
                 mode: str = 'wb',
                 encoding: str = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` once the block ends.

    On normal exit the data is flushed and fsynced, the file is renamed to
    ``path`` and the folder entry is fsynced. If the block raises, the
    temporary file is removed and ``path`` is untouched; if the process is
    killed, ``path`` is untouched and the temporary file stays behind until
    the next write of ``path`` removes it. One process at a time may write a
    given path (the checkpoint writer, rank 0, is the only one).

    Args:
        path (str | Path): Destination; its folder is created if needed.
        mode (str): ``'wb'`` or ``'w'``.
        encoding (str, optional): Text encoding for ``mode='w'``.

    Yields:
        file object: The open temporary file.
    """
    if mode not in ('wb', 'w'):
        raise ValueError(
            f"atomic_write mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in stale_partials(path):
        leftover.unlink(missing_ok=True)
    tmp = partial_path(path)
    try:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; some file systems cannot fsync a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put`` and ``put_text`` write
    through :func:`atomic_write`; reading, listing and removing are
    unchanged."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically."""
        with atomic_write(filepath, 'wb') as f:
            f.write(obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        with atomic_write(filepath, 'w', encoding=encoding) as f:
            f.write(obj)
