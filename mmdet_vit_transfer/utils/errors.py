"""Errors in what a user gave (data, config values, checkpoint files),
reported as one line naming the problem and the file.

The runner (:class:`~mmdet_vit_transfer.engine.TransferRunner`) and the tools
turn a :class:`UserInputError` (or a ``FileNotFoundError``) into a last line
``error: <what> (<file>)`` and exit with status 1; the traceback goes to the
run's log file, or to the terminal with ``MMDET_VIT_TRANSFER_DEBUG=1``.
Anything else is a defect and keeps its traceback, except where a step only
reads the user's input (building a model from a config, converting a
checkpoint): :func:`input_errors` names such a step's errors as the input's.

A user error raised in a dataloader worker reaches the main process as
torch's re-raise (a ``RuntimeError`` carrying the worker's traceback as
text); it is recognised by the class it names and reported as itself.
"""
import importlib
import logging
import os
import re
import traceback
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple, Type

#: Set to 1 to get the traceback of user errors on the terminal.
DEBUG_ENV = 'MMDET_VIT_TRANSFER_DEBUG'
#: The first line of torch's re-raise of a dataloader worker's exception.
WORKER_ERROR = re.compile(r'^Caught (\w+) in DataLoader worker process \d+')


class UserInputError(Exception):
    """Base of the errors that name a problem in the user's input; the
    message names the file (or config key) and what would be valid."""


class ConfigError(UserInputError):
    """A config that cannot be built or run as written."""


#: Exceptions reported as one line.
USER_ERRORS = (UserInputError, FileNotFoundError)
#: What a step that only reads the user's input raises for bad input.
INPUT_ERROR_TYPES = (ValueError, TypeError, KeyError, AssertionError,
                     RuntimeError, NotImplementedError)


def debug_enabled() -> bool:
    """Whether ``MMDET_VIT_TRANSFER_DEBUG`` asks for full tracebacks."""
    return os.environ.get(DEBUG_ENV, '') not in ('', '0')


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line (a ``KeyError``'s without the
    quotes that ``str`` adds)."""
    if isinstance(error, KeyError) and len(error.args) == 1 and \
            isinstance(error.args[0], str):
        text = error.args[0]
    else:
        text = str(error)
    return ' '.join(line.strip() for line in text.strip().splitlines()
                    if line.strip())


def root_cause(error: BaseException) -> BaseException:
    """The exception that started a chain of re-raises (one raised ``from
    None`` is its own root: it replaced the one before on purpose)."""
    seen = {id(error)}
    while True:
        cause = error.__cause__ or (None if error.__suppress_context__
                                    else error.__context__)
        if cause is None or id(cause) in seen:
            return error
        seen.add(id(cause))
        error = cause


@contextmanager
def input_errors(what: str,
                 types: Tuple[Type[BaseException], ...] = INPUT_ERROR_TYPES
                 ) -> Iterator[None]:
    """Within the block, an exception of ``types`` is bad input: it is
    raised again as a :class:`ConfigError` ``'<what>: <Type>: <message>'``
    of its root cause.

    Args:
        what (str): The step, e.g. ``'cannot build the model'``.
        types (tuple): The exception types that mean bad input here.
    """
    try:
        yield
    except UserInputError:
        raise
    except types as error:
        cause = root_cause(error)
        raise ConfigError(
            f'{what}: {type(cause).__name__}: {one_line(cause)}') from error


def _user_error_class(qualname: str) -> Optional[type]:
    """The class named ``module.Class`` if it is a user error."""
    module, _, name = qualname.rpartition('.')
    try:
        found = getattr(importlib.import_module(module or 'builtins'), name)
    except (ImportError, AttributeError, ValueError):
        return None
    if isinstance(found, type) and issubclass(found, USER_ERRORS):
        return found
    return None


def user_error_message(error: BaseException) -> Optional[str]:
    """The one-line message of ``error`` if it is a user error, also one
    re-raised from a dataloader worker; None for anything else."""
    if isinstance(error, USER_ERRORS):
        return one_line(error)
    lines = str(error).strip().splitlines()
    if not lines or not WORKER_ERROR.match(lines[0]):
        return None
    qualname, _, message = lines[-1].partition(': ')
    if _user_error_class(qualname) is None:
        return None
    return message.strip()


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
    except Exception as error:
        message = user_error_message(error)
        if message is None or debug_enabled():
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
        raise SystemExit(f'({hint})\nerror: {message}') from error
