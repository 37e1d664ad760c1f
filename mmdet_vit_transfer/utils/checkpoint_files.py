"""Checkpoint files: refuse a broken one by name, and read mmengine's own
checkpoints while ``torch.load`` stays ``weights_only``.

A truncated or corrupt file reaches ``torch.load`` as a zip error deep in a
traceback that never names the file; :func:`check_checkpoint_file` looks at
the file first and raises :class:`CheckpointFileError` naming it. It reads
the zip archive's central directory and the local header of each record, so
that it takes the same time for a 2.5 GB checkpoint as for a small one: a
file cut short anywhere, or whose records do not lie where the directory
says, is refused. A flipped bit inside the tensor data is found only by the
CRC of every record, which reads the whole file (``verify_checksums``; torch
itself does not check them when it loads).

torch >= 2.6 unpickles only allow-listed types by default. mmengine 0.10.7
stores its message hub (``HistoryBuffer`` objects holding numpy arrays and
scalars) in every checkpoint, so resuming fails with an ``UnpicklingError``.
Instead of turning the safety off, :func:`mmengine_checkpoint_globals`
allow-lists the exact types mmengine writes, for the loads inside its
``with`` block only; anything else in a file is still refused.

``HistoryBuffer`` also pickles its statistics methods (``HistoryBuffer.min``
...), which pickle writes as ``getattr(HistoryBuffer, 'min')``. Allowing the
builtin ``getattr`` would let a file reach any attribute of any allowed
object, so the pickled name ``builtins.getattr`` is bound to
:func:`history_buffer_method` instead, which resolves only those methods.
"""
import os
import pickle
import struct
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, List, Tuple, Union

import numpy as np
import torch

from .errors import UserInputError

#: How a ``torch.save`` file starts: a zip archive, or (legacy format, and
#: ``torch.load``'s plain pickles) a pickle stream.
ZIP_MAGIC = b'PK\x03\x04'
PICKLE_MAGIC = b'\x80'
#: A zip record's local header: signature, 22 bytes, name and extra-field
#: lengths (``struct`` format of zipfile's ``structFileHeader``).
LOCAL_HEADER = struct.Struct('<4s2B4HL2L2H')


class CheckpointFileError(UserInputError, ValueError):
    """A checkpoint file that cannot be loaded.

    Args:
        path (str | Path): The file.
        problem (str): What is wrong with it.
    """

    def __init__(self, path: Union[str, Path], problem: str):
        super().__init__(f'checkpoint {path}: {problem}')
        self.path, self.problem = str(path), problem


def is_complete_checkpoint(path: Union[str, Path]) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file.

    ``torch.save`` writes a zip archive whose directory is its last record,
    so a file cut short anywhere fails this check; only the tail of the file
    is read.
    """
    path = Path(path)
    return path.is_file() and zipfile.is_zipfile(path)


def check_checkpoint_file(path: Union[str, os.PathLike],
                          verify_checksums: bool = False) -> None:
    """Refuse a local checkpoint that is missing, empty, truncated or not a
    PyTorch file, before ``torch.load`` sees it. URLs and other remote paths
    are left to their loader.

    Args:
        path (str | PathLike): The checkpoint.
        verify_checksums (bool): Also check the CRC of every record of a
            zip checkpoint, which reads the whole file. Without it the
            check reads the archive's directory and record headers only.

    Raises:
        CheckpointFileError: Naming the file and what is wrong.
    """
    if '://' in str(path):
        return
    path = Path(path)
    if not path.exists():
        raise CheckpointFileError(path, 'no such file')
    if path.is_dir():
        raise CheckpointFileError(path, 'is a folder, not a file')
    if path.stat().st_size == 0:
        raise CheckpointFileError(path, 'the file is empty')
    with open(path, 'rb') as f:
        head = f.read(len(ZIP_MAGIC))
    if head.startswith(ZIP_MAGIC):
        _check_zip_archive(path, verify_checksums)
    elif not head.startswith(PICKLE_MAGIC):
        raise CheckpointFileError(
            path, 'not a PyTorch checkpoint (neither a torch.save zip '
            'archive nor the legacy format)')


def _check_zip_archive(path: Path, verify_checksums: bool) -> None:
    """The archive's directory is whole, every record it lists lies inside
    the file behind its own header, and (if asked) every CRC matches."""
    if not zipfile.is_zipfile(path):
        raise CheckpointFileError(
            path, 'truncated or corrupt (the zip archive that torch.save '
            'writes is incomplete); use an intact copy or an earlier '
            'checkpoint')
    try:
        with zipfile.ZipFile(path) as archive:
            bad = _misplaced_record(archive, path.stat().st_size)
            if bad is None and verify_checksums:
                damaged = archive.testzip()
                if damaged is not None:
                    raise CheckpointFileError(
                        path, f'corrupt (record {damaged} fails its '
                        'checksum)')
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointFileError(path, f'corrupt ({error})') from None
    if bad is not None:
        raise CheckpointFileError(
            path, f'corrupt (record {bad} is not where the archive\'s '
            'directory says); use an intact copy or an earlier checkpoint')


def _misplaced_record(archive: zipfile.ZipFile, size: int):
    """The name of the first record whose local header is not at its
    directory offset, names another record, or whose data run past the end
    of the file; None when all are in place. Reads one header per record."""
    handle = archive.fp
    for info in archive.infolist():
        handle.seek(info.header_offset)
        raw = handle.read(LOCAL_HEADER.size)
        if len(raw) < LOCAL_HEADER.size:
            return info.filename
        header = LOCAL_HEADER.unpack(raw)
        name_length, extra_length = header[-2:]
        name = handle.read(name_length)
        data_end = (info.header_offset + LOCAL_HEADER.size + name_length +
                    extra_length + info.compress_size)
        if (header[0] != ZIP_MAGIC or data_end > size
                or name.decode('utf-8', 'replace') != info.filename):
            return info.filename
    return None


def refused_checkpoint(path: Union[str, os.PathLike]) -> CheckpointFileError:
    """The error for a file that ``torch.load(weights_only=True)`` refused:
    it names the objects whose rebuilding would run code from the file
    (beyond the types that mmengine writes, which are allowed)."""
    try:
        with mmengine_checkpoint_globals():
            names = torch.serialization.get_unsafe_globals_in_checkpoint(
                str(path))
    except Exception:  # noqa: BLE001  the file's own damage says less
        names = []
    found = f' ({", ".join(names)})' if names else ''
    return CheckpointFileError(
        path, f'refused: its pickle names objects{found} whose rebuilding '
        'would run code from the file; load only tensors and plain data '
        '(where you trust the file, re-save its state dict)')


def mmengine_checkpoint_types() -> List[type]:
    """The non-tensor types that mmengine 0.10.7 writes into a checkpoint."""
    from mmengine.logging import HistoryBuffer

    multiarray = getattr(np, '_core', None) or np.core
    dtype_classes = [
        type(np.dtype(t)) for t in (np.float64, np.float32, np.float16,
                                    np.int64, np.int32, np.int8, np.uint8,
                                    np.bool_)
    ]
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray.multiarray._reconstruct,
        multiarray.multiarray.scalar,
        *dtype_classes,
    ]


def history_buffer_method(owner: type, name: str):
    """``getattr`` restricted to the statistics methods of mmengine's
    ``HistoryBuffer``, the only attribute look-up mmengine checkpoints need."""
    from mmengine.logging import HistoryBuffer

    method = HistoryBuffer.__dict__.get(name) if owner is HistoryBuffer \
        else None
    if not callable(method) or name.startswith('_'):
        raise pickle.UnpicklingError(
            f'refusing getattr({owner!r}, {name!r}) while loading a '
            'checkpoint: only HistoryBuffer statistics methods are allowed')
    return method


def restricted_getattr_globals() -> List[Tuple[object, str]]:
    """``(replacement, pickled name)`` pairs for ``safe_globals``."""
    return [(history_buffer_method, 'builtins.getattr')]


@contextmanager
def mmengine_checkpoint_globals(extra: Iterable = ()) -> Iterator[None]:
    """Allow-list :func:`mmengine_checkpoint_types` (and ``extra``) for the
    ``weights_only`` loads inside the ``with`` block.

    Unlike ``torch.serialization.safe_globals``, a nested block leaves the
    entries that an enclosing one added in place when it ends.

    Args:
        extra (Iterable): More globals (or ``(global, name)`` pairs) to
            allow, e.g. the plain-data classes of published checkpoints.
    """
    wanted = (mmengine_checkpoint_types() + restricted_getattr_globals() +
              list(extra))
    present = torch.serialization.get_safe_globals()
    added = [g for g in wanted if g not in present]
    torch.serialization.add_safe_globals(added)
    try:
        yield
    finally:
        remaining = [g for g in torch.serialization.get_safe_globals()
                     if g not in added]
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(remaining)
