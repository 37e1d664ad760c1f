# The paper's optimisation (section 2.4): AdamW (0.9, 0.999), batch 64,
# linear warmup for 0.25 epoch, then half-period cosine decay to zero over
# the remaining epochs. No weight decay for norms, biases, position
# embeddings and relative-position tables, and no layer-wise lr decay
# (layer_decay_rate 1.0; ViTDet's 0.7 / 0.8 / 0.9 is one field away): the
# rules live in LayerDecayOptimWrapperConstructor. Experiment configs set lr,
# weight_decay and `train_cfg = dict(max_epochs=N)`; the cosine phase ends at
# max_epochs by default and both phases are converted to iterations with the
# dataloader length, so the shape is the same for any dataset or batch size.
# `--amp` switches to AmpOptimWrapper (fp16 autocast; CUDA only in mmengine
# 0.10.7).
optim_wrapper = dict(
    # A non-finite loss skips its update (NonFiniteLossHook sets the limit).
    type='SkipNonFiniteOptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=8e-5, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=1.0))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=True,
        begin=0,
        end=0.25,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0.25,
        eta_min=0.0,
        convert_to_iter_based=True),
]

# 64 images per iteration (e.g. 32 GPUs x 2); `--auto-scale-lr` rescales lr
# linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=64)
