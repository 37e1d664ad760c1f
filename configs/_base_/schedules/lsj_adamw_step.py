# detectron2's LSJ step schedule (its new_baselines and ViTDet configs; the
# paper itself decays by a cosine): the cosine base with the cosine phase
# replaced by x0.1 steps at 88.9% and 96.3% of training (for 100 epochs:
# epochs 88.9 and 96.3, iterations 163889 and 177546 at batch 64). Milestones
# are epochs, converted to iterations with the dataloader length; a config
# with another length restates them with its own `max_epochs`.
_base_ = './lsj_adamw_cosine.py'

max_epochs = 100
step_fractions = (0.889, 0.963)
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=True,
        begin=0,
        end=0.25,
        convert_to_iter_based=True),
    # MultiStepLR would silently never step: its milestones become
    # fractional iterations. Two chained x0.1 ConstantLR phases convert
    # begin with int(); their end lies past training (ConstantLR restores
    # the lr on its last iteration).
    dict(
        type='ConstantLR',
        factor=0.1,
        by_epoch=True,
        begin=max_epochs * step_fractions[0],
        end=2 * max_epochs,
        convert_to_iter_based=True),
    dict(
        type='ConstantLR',
        factor=0.1,
        by_epoch=True,
        begin=max_epochs * step_fractions[1],
        end=2 * max_epochs,
        convert_to_iter_based=True),
]
