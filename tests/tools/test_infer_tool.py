import json

import numpy as np
import pytest
from PIL import Image

from mmdet_vit_transfer.analysis.inference import (collect_images,
                                                   inference_config,
                                                   readable_images)
from mmdet_vit_transfer.datasets.transforms import ImageLoadError


@pytest.mark.slow
def test_predictions_drawn_on_toy_images(load_tool, toy_benchmark_dir,
                                         tmp_path):
    run = toy_benchmark_dir / 'work_dirs' / 'random_vittiny_maskrcnn_2e'
    images = toy_benchmark_dir / 'data' / 'toy_coco' / 'val'
    tool = load_tool('tools/infer.py')
    drawn = tool.main([
        str(toy_benchmark_dir / 'configs' / 'random_vittiny_maskrcnn_2e.py'),
        str(run / 'epoch_2.pth'),
        str(images), '--out-dir', str(tmp_path), '--score-thr', '0'
    ])
    assert [d.image.name for d in drawn] == ['000001.png', '000002.png']
    for item in drawn:
        preds = json.loads(item.predictions.read_text())
        assert len(preds['labels']) == len(preds['scores']) == len(
            preds['bboxes']) == len(preds['masks']) > 0
        assert set(preds['labels']) <= {0, 1, 2}
        with Image.open(item.image) as a, Image.open(item.drawn) as b:
            original, painted = np.asarray(a.convert('RGB')), np.asarray(b)
        assert painted.shape == original.shape
        # Every prediction is drawn at threshold 0: the picture changed.
        assert (painted != original).any(axis=-1).mean() > 0.01


def test_image_inputs_are_checked(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    for folder in ('a', 'b'):
        Image.new('RGB', (8, 8)).save(tmp_path / folder / 'x.png')
    assert collect_images([tmp_path / 'a']) == [tmp_path / 'a' / 'x.png']
    with pytest.raises(ValueError, match='have the same name'):
        collect_images([tmp_path / 'a', tmp_path / 'b' / 'x.png'])
    with pytest.raises(FileNotFoundError, match='no image'):
        collect_images([tmp_path])
    with pytest.raises(FileNotFoundError, match='missing.png does not exist'):
        collect_images([tmp_path / 'missing.png'])


def test_an_unreadable_image_stops_or_is_skipped(tmp_path):
    Image.new('RGB', (8, 8)).save(tmp_path / 'a.png')
    (tmp_path / 'b.png').write_text('not an image')
    with pytest.raises(ImageLoadError, match='b.png: corrupt'):
        readable_images([tmp_path])
    loaded, failures = readable_images([tmp_path], 'skip')
    assert loaded == [tmp_path / 'a.png']
    assert [f.path for f in failures] == [str(tmp_path / 'b.png')]


def test_any_image_loader_becomes_the_inferencers():
    cfg = inference_config('configs/toy_vit_tiny_maskrcnn.py')
    types = [t['type'] for t in cfg.test_dataloader.dataset.pipeline]
    assert types[0] == 'LoadImageFromFile'
    assert 'CheckedLoadImageFromFile' not in types


def test_class_names_from_the_config_when_the_checkpoint_has_none(tmp_path):
    import torch
    from mmdet.apis import DetInferencer

    from mmdet_vit_transfer.analysis.complexity import (build_detector,
                                                        load_config)
    from mmdet_vit_transfer.analysis.inference import _class_names
    config = 'configs/toy_vit_tiny_maskrcnn.py'
    model = build_detector(load_config(config))
    # A bare state dict: mmdet falls back on COCO's 80 names.
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'bare.pth')
    inferencer = DetInferencer(model=inference_config(config),
                               weights=str(tmp_path / 'bare.pth'))
    assert len(inferencer.model.dataset_meta['classes']) == 80
    assert _class_names(inferencer) == ('circle', 'triangle', 'square')
