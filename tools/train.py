"""mmdet's tools/train.py with mmdet_vit_transfer imported (same flags:
--work-dir, --amp, --auto-scale-lr, --resume, --cfg-options, --launcher)."""
from _mmdet_entry import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('train.py')
