"""Train a detector: MMDetection's own tools/train.py, same flags (--work-dir,
--amp, --auto-scale-lr, --resume [CKPT], --cfg-options, --launcher).

The configs select this package's runner (``runner_type`` in
``configs/_base_/default_runtime.py``), so this script, ``mim train mmdet
CONFIG`` and ``mim train mmdet_vit_transfer CONFIG`` give the same run."""
from mmdet_vit_transfer.utils.mmdet_tools import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('train.py')
