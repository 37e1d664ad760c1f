"""Test (and evaluate) a detector: MMDetection's own tools/test.py, same flags
(--work-dir, --out, --show, --show-dir, --wait-time, --tta, --cfg-options,
--launcher).

The configs select this package's runner (``runner_type`` in
``configs/_base_/default_runtime.py``), so this script, ``mim test mmdet
CONFIG --checkpoint CKPT`` and ``mim test mmdet_vit_transfer ...`` give the
same run."""
from mmdet_vit_transfer.utils.mmdet_tools import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('test.py')
