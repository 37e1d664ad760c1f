_base_ = 'mmdet::_base_/default_runtime.py'

# mmdet's own tools/train.py and test.py (and `mim train mmdet`) build this
# runner: distributed runs on CPU-only machines (gloo), --amp on a CPU
# (bfloat16), --resume from the newest complete checkpoint, checkpoint files
# checked before loading, and one `error: ...` line for bad input
# (mmdet_vit_transfer/engine/runner.py).
runner_type = 'mmdet.TransferRunner'

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=3))
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend'),
]
visualizer = dict(vis_backends=vis_backends)
# CPU training slows down as values turn denormal; flush them to zero.
custom_hooks = [dict(type='FlushDenormalHook')]
# Robust training (docs/robustness.md): reseed every epoch so that a resumed
# run repeats an uninterrupted one; name non-finite losses, skip up to 10
# updates, then stop; count training images that could not be loaded.
custom_hooks += [
    dict(type='EpochReseedHook'),
    dict(type='NonFiniteLossHook', max_skips=10),
    dict(type='SkippedSampleHook'),
]
# Checkpoints are renamed into place once complete: a kill while saving never
# leaves a truncated file under a checkpoint's name.
default_hooks['checkpoint']['backend_args'] = dict(backend='atomic_local')
