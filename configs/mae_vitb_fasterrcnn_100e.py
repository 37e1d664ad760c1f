# MAE init, ViT-B, 100 epochs, box-only: Faster R-CNN, the Mask R-CNN of
# mae_vitb_maskrcnn_100e.py without its mask branch, for annotations without
# masks. The paper reports Mask R-CNN only.
_base_ = ['./mae_vitb_maskrcnn_100e.py', './_base_/box_only_lsj_1024.py']

model = {{_base_.faster_rcnn}}
train_dataloader = {{_base_.box_only_train_dataloader}}
val_dataloader = {{_base_.box_only_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.box_only_evaluator}}
test_evaluator = val_evaluator
