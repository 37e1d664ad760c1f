"""Bad input at the real entry points ends with one line naming the problem
and the file, exit status 1, and no traceback on the terminal."""
import json
import os
import sys
from pathlib import Path

import pytest
import torch
from subprocess_runs import LOAD_FACTOR, run

from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco

REPO = Path(__file__).parents[2]
CONFIG = REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py'
#: Starting Python and building the toy runner take about 20 s.
TIMEOUT = 120 * LOAD_FACTOR
NO_WORKERS = [f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
              for key in ('num_workers=0', 'persistent_workers=False')]
#: Four iterations per epoch on the four images: the warmup has one.
TRAIN = [*NO_WORKERS, 'train_dataloader.batch_size=1']


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """A toy set, a truncated checkpoint and an annotation file whose
    ``annotations`` list is empty."""
    root = tmp_path_factory.mktemp('user_errors')
    make_toy_coco(root / 'data' / 'toy_coco', num_train=4, num_val=1)
    train = json.loads(
        (root / 'data' / 'toy_coco' / 'annotations' /
         'instances_train.json').read_text())
    (root / 'data' / 'toy_coco' / 'annotations' /
     'empty_train.json').write_text(json.dumps(dict(train, annotations=[])))
    cut = root / 'epoch_1.pth'
    torch.save({'state_dict': {'w': torch.randn(256, 256)}}, cut)
    cut.write_bytes(cut.read_bytes()[:40000])
    return root


def tool(root, script, *args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('MMDET_VIT_TRANSFER_DEBUG', None)
    result = run([sys.executable, REPO / 'tools' / script, *map(str, args)],
                 timeout=TIMEOUT, cwd=root, env=env)
    print(f'{script} {" ".join(map(str, args[1:]))[-80:]}\n'
          f'  -> {result.last_line}')
    assert result.returncode == 1, result.output[-3000:]
    assert 'Traceback' not in result.output, result.output[-3000:]
    return result.last_line


@pytest.mark.slow
def test_empty_annotations_list(toy):
    line = tool(toy, 'train.py', CONFIG, '--work-dir', toy / 'empty',
                '--cfg-options', *TRAIN,
                'train_dataloader.dataset.ann_file='
                'annotations/empty_train.json')
    assert line.startswith('error: annotation file ')
    assert "empty_train.json: none of its 4 images is usable " \
        "(4 image_without_annotations); its 'annotations' list is empty" \
        in line


@pytest.mark.slow
@pytest.mark.parametrize('door', ['test.py', '--resume', 'load_from',
                                  'infer.py'])
def test_truncated_checkpoint(toy, door):
    cut = toy / 'epoch_1.pth'
    if door == 'test.py':
        args = ('test.py', CONFIG, cut, '--work-dir', toy / 'test',
                '--cfg-options', *NO_WORKERS)
    elif door == 'infer.py':
        args = ('infer.py', CONFIG, cut,
                toy / 'data' / 'toy_coco' / 'val', '--out-dir', toy / 'infer')
    else:
        args = ('train.py', CONFIG, '--work-dir', toy / door,
                *(['--resume', cut] if door == '--resume' else []),
                '--cfg-options', *TRAIN,
                *([f'load_from={cut}'] if door == 'load_from' else []))
    line = tool(toy, *args)
    assert line == (f'error: checkpoint {cut}: truncated or corrupt (the zip '
                    'archive that torch.save writes is incomplete); use an '
                    'intact copy or an earlier checkpoint')
