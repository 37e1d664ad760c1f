"""Run MMDetection's own command-line scripts."""
import runpy
import sys
from pathlib import Path


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
    command-line arguments."""
    path = mmdet_tool(name)
    sys.argv[0] = str(path)
    runpy.run_path(str(path), run_name='__main__')
