# Direct detection pre-training, stage 1, ViT-B Mask R-CNN (the package's
# detector; the recipe is published for CNNs and Swin, not for a plain ViT).
# The whole detector from random init at 448 px: a 28x28 token grid, with
# the absolute position embedding stored at that grid and 7x7 windows that
# tile it 4x4, so a window covers the same part of the image as the 14x14
# windows of the 64x64 grid in stage 2. Global blocks, relative tables, drop
# path and the random-init lr / weight decay (1.6e-4 / 0.2 at batch 64) as in
# the paper's formula; the schedule of stage 1 (constant lr after warmup, 12
# epochs of the 4x repeated set). Then: tools/handoff_checkpoint.py and
# maskrcnn_vitb_direct_stage2.py.
_base_ = [
    '../_base_/models/mask_rcnn_plain_vit_b.py',
    './_base_/coco_instance_direct_448.py',
    './_base_/schedule_direct_stage1.py', '../_base_/default_runtime.py'
]

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=(448, 448), pad_mask=True)
    ]),
    backbone=dict(img_size=448, pretrain_img_size=448, window_size=7))

optim_wrapper = dict(optimizer=dict(lr=1.6e-4, weight_decay=0.2))
