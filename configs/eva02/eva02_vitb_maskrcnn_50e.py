# EVA-02 ViT-B init, 50 epochs: the 100-epoch experiment with a shorter
# schedule.
_base_ = './eva02_vitb_maskrcnn_100e.py'

train_cfg = dict(max_epochs=50)
