# Direct detection pre-training, stage 2, on the toy set: the toy detector,
# model, data and schedule unchanged, started from the whole stage-1
# detector (toy_vit_tiny_direct_stage1.py) instead of random init, so it
# compares with configs/toy_vit_tiny_maskrcnn.py at equal cost. load_from is
# the file `tools/handoff_checkpoint.py` writes (position embedding 8x8 ->
# 16x16, window table 4 -> 8, global table 8 -> 16); StrictLoadHook refuses
# to train unless it fills every key of the model.
_base_ = '../toy_vit_tiny_maskrcnn.py'

load_from = 'work_dirs/toy_vit_tiny_direct_stage1/handoff.pth'
custom_hooks = _base_.custom_hooks + [dict(type='StrictLoadHook')]
