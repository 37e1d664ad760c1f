"""mmdet's tools/test.py with mmdet_vit_transfer imported (same flags)."""
from _mmdet_entry import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('test.py')
