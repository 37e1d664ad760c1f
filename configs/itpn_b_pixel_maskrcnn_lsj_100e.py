# iTPN-B, pixel pre-training, under this package's protocol, the one of the
# ViT grid (compare with mae_vitb_maskrcnn_100e.py): large-scale jitter at
# 1024, 64 images per batch, AdamW with a 0.25-epoch warm-up and cosine
# decay over 100 epochs, the BN heads of mask_rcnn_plain_vit_b.py. The
# backbone keeps iTPN's own fine-tuning hyper-parameters (lr 2e-4, weight
# decay 0.05, layer decay 0.90, drop path 0.05), not tuned for this
# schedule. 25 or 50 epochs: `--cfg-options train_cfg.max_epochs=25` (the
# cosine phase ends at max_epochs). The other iTPN LSJ configs inherit this
# file.
_base_ = [
    './_base_/models/mask_rcnn_itpn_b.py',
    './_base_/datasets/coco_instance_lsj_1024.py',
    './_base_/schedules/lsj_adamw_cosine.py', './_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        drop_path_rate=0.05,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/itpn_pixel_base.pth',
            abs_pos_init='pretrained',
            rel_pos_init='none')))
optim_wrapper = dict(
    optimizer=dict(lr=2e-4, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.9))
train_cfg = dict(max_epochs=100)
