"""Errors in what a user gave (data, config values, checkpoint files),
reported as one line naming the problem and the file.

The runner (:class:`~mmdet_vit_transfer.engine.TransferRunner`) and the tools
turn a :class:`UserInputError` (or a ``FileNotFoundError``) into a last line
``error: <what> (<file>)`` and exit with status 1; the traceback goes to the
run's log file, or to the terminal with ``MMDET_VIT_TRANSFER_DEBUG=1``.
Anything else is a defect and keeps its traceback.
"""
import logging
import os
import traceback
from contextlib import contextmanager
from typing import Iterator, Optional

#: Set to 1 to get the traceback of user errors on the terminal.
DEBUG_ENV = 'MMDET_VIT_TRANSFER_DEBUG'


class UserInputError(Exception):
    """Base of the errors that name a problem in the user's input; the
    message names the file (or config key) and what would be valid."""


#: Exceptions reported as one line.
USER_ERRORS = (UserInputError, FileNotFoundError)


def debug_enabled() -> bool:
    """Whether ``MMDET_VIT_TRANSFER_DEBUG`` asks for full tracebacks."""
    return os.environ.get(DEBUG_ENV, '') not in ('', '0')


@contextmanager
def user_errors_exit(logger: Optional[logging.Logger] = None
                     ) -> Iterator[None]:
    """Turn a user error raised inside the block into ``SystemExit`` with
    the message ``error: <message>``.

    The traceback is written to the file handlers of ``logger`` (the run's
    log file), never to the terminal, unless ``MMDET_VIT_TRANSFER_DEBUG`` is
    set, in which case the error propagates unchanged.

    Args:
        logger (logging.Logger, optional): The run's logger.
    """
    try:
        yield
    except USER_ERRORS as error:
        if debug_enabled():
            raise
        log_files = []
        for handler in getattr(logger, 'handlers', []):
            if isinstance(handler, logging.FileHandler):
                handler.handle(
                    logger.makeRecord(logger.name, logging.ERROR, __file__,
                                      0, traceback.format_exc(), None, None))
                log_files.append(handler.baseFilename)
        hint = (f'traceback in {log_files[0]}; ' if log_files else '') + \
            f'{DEBUG_ENV}=1 shows it here'
        raise SystemExit(f'({hint})\nerror: {error}') from error
