# Mask R-CNN with the iTPN-B backbone (docs/itpn.md): a HiViT encoder
# (512 dims; 3 + 3 MLP blocks at strides 4 and 8, 24 global-attention blocks
# at stride 16) and its integrally pre-trained pyramid, which gives the heads
# five 256-channel maps at strides 4-64: there is no separate neck. The heads
# are this package's protocol (mask_rcnn_plain_vit_b.py): RPN with 2 convs,
# 4conv1fc box head and 4-conv mask head with sample-weighted sync BN.
# iTPN-L configs set arch='large' (768 dims, 2 + 2 + 40 blocks, 12 heads).
_base_ = './mask_rcnn_plain_vit_b.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ITPNHiViT',
        arch='base',
        img_size=1024,
        pretrain_img_size=224,
        fpn_dim=256,
        fpn_depth=1,
        drop_path_rate=0.05),
    neck=None)
