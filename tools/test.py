"""Test (and evaluate) a detector: mmdet's tools/test.py with this package
imported and the same flags (--work-dir, --out, --show, --show-dir,
--wait-time, --tta, --cfg-options, --launcher). On machines without CUDA,
distributed runs use the gloo backend."""
from mmdet_vit_transfer.engine.cli import test_main

if __name__ == '__main__':
    test_main()
