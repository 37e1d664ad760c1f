"""Run MMDetection's own command-line scripts."""
import gc
import runpy
import sys
from pathlib import Path

from .errors import input_errors, user_errors_exit
from .processes import Interrupted, end_children, interruptible


def mmdet_tool(name: str) -> Path:
    """The path of one of mmdet's scripts (``train.py``, ``test.py``), which
    mmdet installs under ``mmdet/.mim/tools`` (a clone of mmdet has them in
    ``tools/``).

    Raises:
        FileNotFoundError: mmdet is installed without its tools.
    """
    import mmdet

    root = Path(mmdet.__file__).parent
    for path in (root / '.mim' / 'tools' / name,
                 root.parent / 'tools' / name):
        if path.is_file():
            return path
    raise FileNotFoundError(
        f'mmdet {mmdet.__version__} at {root} has no tools/{name}; '
        "reinstall it with `mim install 'mmdet>=3.3.0,<3.4'` or "
        "`pip install 'mmdet>=3.3.0,<3.4'`")


def run_mmdet_tool(name: str) -> None:
    """Run mmdet's script ``name`` as ``__main__`` with this process's
    command-line arguments.

    A user error that reaches it (a missing file, a config that does not
    parse) ends it with one line, as the runner's own do. Ctrl-C and
    SIGTERM stop it as a ``KeyboardInterrupt``; however it ends, the
    processes it started (dataloader workers) are ended and reaped before
    this returns (:mod:`.processes`), and a stop by a signal exits with 128
    + the signal's number.
    """
    path = mmdet_tool(name)
    sys.argv[0] = str(path)
    stopped_by = None
    try:
        with user_errors_exit(), interruptible(), \
                input_errors('cannot read the config', (SyntaxError, )):
            runpy.run_path(str(path), run_name='__main__')
    except Interrupted as stop:
        # Not the exception itself: its traceback would keep the frames,
        # and with them the dataloaders, alive.
        stopped_by = (str(stop), stop.exit_status)
    finally:
        # Unreferenced dataloaders shut their workers down themselves;
        # whatever is left is ended here.
        gc.collect()
        end_children()
    if stopped_by is not None:
        signal_name, status = stopped_by
        print(f'stopped by {signal_name}', file=sys.stderr)
        sys.exit(status)
