# What the integrally pre-trained pyramid is worth: the iTPN-B pixel 1x
# recipe with the checkpoint's pyramid dropped and a randomly initialised
# FPN on the encoder's stride-4, -8 and -16 maps instead (256 channels, five
# levels, strides 32 and 64 by max pooling), as the commented-out neck of
# the published config.
_base_ = './itpn_b_pixel_maskrcnn_1x.py'

model = dict(
    backbone=dict(out_type='stages'),
    neck=dict(
        _delete_=True,
        type='FPN',
        in_channels=[128, 256, 512],
        out_channels=256,
        num_outs=5))
