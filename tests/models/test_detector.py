"""The paper-scale detector and the toy detector built from the configs."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

CONFIGS = Path(__file__).parents[2] / 'configs'


def build(config_name, init=True, **backbone):
    cfg = Config.fromfile(CONFIGS / config_name)
    init_default_scope('mmdet')
    cfg.model.backbone.pop('init_cfg', None)
    cfg.model.backbone.update(backbone)
    model = MODELS.build(cfg.model)
    if init:
        model.init_weights()
    return model


@pytest.mark.parametrize('config_name, low, high', [
    ('mae_vitb_maskrcnn_100e.py', 110e6, 125e6),
    ('beit_vitl_maskrcnn_100e.py', 330e6, 360e6),
])
def test_paper_scale_parameter_count(config_name, low, high):
    with torch.device('meta'):
        model = build(config_name, init=False)
    count = sum(p.numel() for p in model.parameters())
    assert low <= count <= high, f'{count / 1e6:.1f} M parameters'


def test_paper_heads_and_norms():
    with torch.device('meta'):
        model = build('mae_vitb_maskrcnn_100e.py', init=False)
    assert type(model.backbone).__name__ == 'PlainViTPyramid'
    assert [type(m).__name__ for m in model.neck] == [
        'ViTSimpleAdapterNeck', 'FPN'
    ]
    assert model.rpn_head.num_convs == 2
    bbox_head = model.roi_head.bbox_head
    assert type(bbox_head).__name__ == 'Shared4Conv1FCBBoxHead'
    norms = {
        type(m).__name__
        for head in (bbox_head, model.roi_head.mask_head, model.neck[1])
        for m in head.modules() if 'Norm' in type(m).__name__
    }
    assert norms == {'SampleSyncBatchNorm2d'}
    assert len(model.roi_head.mask_head.convs) == 4
    assert len(bbox_head.shared_convs) == 4 and len(bbox_head.shared_fcs) == 1


def sample(num_objects, size=256, seed=0):
    rng = np.random.default_rng(seed)
    data_sample = DetDataSample(metainfo=dict(
        img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
        scale_factor=(1.0, 1.0), batch_input_shape=(size, size)))
    instances = InstanceData()
    xy = rng.uniform(0, size / 2, (num_objects, 2))
    wh = rng.uniform(20, size / 2, (num_objects, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    masks = np.zeros((num_objects, size, size), np.uint8)
    for m, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
        m[y1:y2, x1:x2] = 1
    instances.bboxes = torch.from_numpy(boxes).reshape(-1, 4)
    instances.labels = torch.from_numpy(rng.integers(0, 3, num_objects))
    instances.masks = BitmapMasks(masks, size, size)
    data_sample.gt_instances = instances
    return data_sample


@pytest.mark.parametrize('objects', [(0, 0), (3, 0)])
def test_batch_without_objects_trains(objects):
    """LSJ can crop every object away: the step must still run, and the
    heads' BN must survive an empty RoI batch."""
    model = build('toy_vit_tiny_maskrcnn.py')
    model.train()
    inputs = torch.randn(len(objects), 3, 256, 256)
    samples = [sample(n, seed=i) for i, n in enumerate(objects)]
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k and
                isinstance(v, torch.Tensor)) + sum(
                    sum(v) for k, v in losses.items()
                    if 'loss' in k and isinstance(v, list))
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None


def test_toy_inference_shapes():
    model = build('toy_vit_tiny_maskrcnn.py').eval()
    with torch.no_grad():
        results = model.predict(torch.randn(1, 3, 256, 256), [sample(1)])
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4
    assert pred.masks.shape[1:] == (256, 256)
