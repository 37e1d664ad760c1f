"""``mim train mmdet`` on the toy set starts from a checkpoint in a family's
published layout, as a user's config points at one: DINOv2's hub file (its
patch-14 kernel resampled to 16), OpenAI CLIP's TorchScript archive and
SAM's ``.pth``, each a toy-sized model of the family's own code with random
weights (``family_references``)."""
import re

import pytest
import torch

import family_references as fr
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.models.backbones.vit_presets import ARCH_ZOO
from test_toy_training import CONFIG, mim_train

#: The toy detector's ViT (configs/toy_vit_tiny_maskrcnn.py): 256 px, 8
#: blocks of width 192.
TOY = dict(embed_dims=192, depth=8, num_heads=3)


def save(writer):
    def write(ref, path):
        torch.save(writer(ref), path)
    return write


#: family: (reference, writer, file name, preset, backbone options, format)
FAMILIES = {
    'dinov2': (lambda: fr.timm_vit('dinov2', 224, size=TOY),
               save(fr.dinov2_hub_checkpoint), 'dinov2_toy_pretrain.pth',
               'dinov2-b14', dict(patch_size=16), 'dinov2'),
    'clip': (lambda: fr.clip(256, quick_gelu=True, size=TOY),
             fr.openai_clip_archive, 'ViT-toy.pt', 'clip-b16', {},
             'openai_clip'),
    'sam': (lambda: fr.sam_encoder(256, 8, [1, 3, 5, 7], size=TOY),
            save(fr.sam_checkpoint), 'sam_vit_toy.pth', 'sam-b16', {},
            'sam'),
}


@pytest.mark.slow
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_toy_training_starts_from_a_published_file(family, tmp_path):
    build, write, name, preset, options, fmt = FAMILIES[family]
    checkpoint = tmp_path / 'checkpoints' / name
    checkpoint.parent.mkdir()
    write(build().float(), checkpoint)
    arch = dict(ARCH_ZOO[preset], **TOY)
    init_cfg = dict(type='Pretrained', checkpoint=str(checkpoint),
                    resample_patch_embed='patch_size' in options)
    config = tmp_path / f'toy_{family}.py'
    config.write_text(
        f'_base_ = {str(CONFIG)!r}\n'
        f'model = dict(backbone=dict(arch=dict(_delete_=True, **{arch!r}), '
        f'init_cfg={init_cfg!r}, **{options!r}))\n')
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=16, num_val=2)
    work_dir = tmp_path / 'work'
    # One epoch of 4 iterations, no evaluation: the start is what is tested.
    log = mim_train(tmp_path, work_dir, 1, val_interval=2, config=config)
    assert f'Checkpoint format: {fmt} (detected' in log
    assert 'Missing in the checkpoint (left at init): none' in log
    assert re.search(r'Epoch\(train\) +\[1\]\[4/4\] .* loss: [0-9.]+', log)
    assert (work_dir / 'epoch_1.pth').is_file()
