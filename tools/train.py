"""Train a detector: mmdet's tools/train.py with this package imported and the
same flags (--work-dir, --amp, --auto-scale-lr, --resume, --cfg-options,
--launcher). On machines without CUDA, distributed runs use the gloo backend;
--resume continues from the newest complete checkpoint."""
from mmdet_vit_transfer.engine.cli import train_main

if __name__ == '__main__':
    train_main()
