"""Run one of mmdet's own command-line tools with this package imported."""
import os.path as osp
import runpy

import mmdet

import mmdet_vit_transfer  # noqa: F401  (registers the components)


def run_mmdet_tool(name: str) -> None:
    """Execute ``mmdet/.mim/tools/<name>`` as ``__main__`` (same flags)."""
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'mmdet {mmdet.__version__} ships no {name} at {path}; install '
            'mmdet from its wheel (pip install mmdet==3.3.0)')
    runpy.run_path(path, run_name='__main__')
