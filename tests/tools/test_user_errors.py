"""Bad input at the real entry points ends with one line naming the problem
and the file, exit status 1, and no traceback on the terminal."""
import json
import os
import sys
from pathlib import Path

import pytest
import torch
from subprocess_runs import LOAD_FACTOR, run

from mmdet_vit_transfer.analysis.complexity import build_detector, load_config
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco

REPO = Path(__file__).parents[2]
CONFIG = REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py'
#: Starting Python and building the toy runner take about 20 s.
TIMEOUT = 120 * LOAD_FACTOR
NO_WORKERS = [f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
              for key in ('num_workers=0', 'persistent_workers=False')]
#: Four iterations per epoch on the four images: the warmup has one.
TRAIN = [*NO_WORKERS, 'train_dataloader.batch_size=1']


class Payload:
    """Unpickling it calls print: a checkpoint holding it would run code."""

    def __reduce__(self):
        return (print, ('this must never run', ))


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """A toy set, a truncated checkpoint, an annotation file whose
    ``annotations`` list is empty, a checkpoint whose pickle would run code,
    the toy model's weights and, in ``text/``, a toy set whose validation
    image is text."""
    root = tmp_path_factory.mktemp('user_errors')
    make_toy_coco(root / 'data' / 'toy_coco', num_train=4, num_val=1)
    make_toy_coco(root / 'text' / 'data' / 'toy_coco', num_train=4,
                  num_val=1)
    (root / 'text' / 'data' / 'toy_coco' / 'val' / '000001.png').write_text(
        'not an image\n')
    torch.save({'state_dict': {'w': torch.ones(1)}, 'payload': Payload()},
               root / 'code.pth')
    model = build_detector(load_config(str(CONFIG)))
    torch.save({'state_dict': model.state_dict()}, root / 'toy.pth')
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
# (train.py's load_from takes the same path as test.py's checkpoint, which
# mmdet's test.py sets as load_from.)
@pytest.mark.parametrize('door', ['test.py', '--resume', 'infer.py'])
def test_truncated_checkpoint(toy, door):
    cut = toy / 'epoch_1.pth'
    if door == 'test.py':
        args = ('test.py', CONFIG, cut, '--work-dir', toy / 'test',
                '--cfg-options', *NO_WORKERS)
    elif door == 'infer.py':
        args = ('infer.py', CONFIG, cut,
                toy / 'data' / 'toy_coco' / 'val', '--out-dir', toy / 'infer')
    else:
        args = ('train.py', CONFIG, '--work-dir', toy / door, '--resume',
                cut, '--cfg-options', *TRAIN)
    line = tool(toy, *args)
    assert line == (f'error: checkpoint {cut}: truncated or corrupt (the zip '
                    'archive that torch.save writes is incomplete); use an '
                    'intact copy or an earlier checkpoint')


#: A misspelled type, a config that does not parse, a quarter-epoch warmup
#: of an epoch of one iteration, a code-running backbone checkpoint.
TRAIN_CASES = {
    'type': (['--cfg-options', 'model.backbone.type=PlainVitPyramid'],
             "error: model.backbone.type = 'PlainVitPyramid' is not a "
             "registered type; did you mean 'PlainViTPyramid'?"),
    'syntax': ([], "error: cannot read the config: SyntaxError: '(' was "
               'never closed'),
    'warmup': (['--cfg-options', *NO_WORKERS, 'train_dataloader.batch_size=4'],
               'error: param_scheduler.0 (LinearLR): begin = 0, end = 0.25 '
               'epochs is iterations 0 to 0 at 1 iteration per epoch, an '
               'empty phase'),
    'init_cfg': (['--cfg-options', *TRAIN,
                  'model.backbone.init_cfg.type=Pretrained',
                  'model.backbone.init_cfg.checkpoint=code.pth'],
                 'error: cannot initialise the model weights from init_cfg: '),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', list(TRAIN_CASES))
def test_bad_training_input(toy, case):
    options, expected = TRAIN_CASES[case]
    config = CONFIG
    if case == 'syntax':
        config = toy / 'syntax.py'
        config.write_text(f'_base_ = {str(CONFIG)!r}\n'
                          'model = dict(backbone=dict(drop_path_rate=0.1)\n')
    line = tool(toy, 'train.py', config, '--work-dir', toy / case, *options)
    assert line.startswith(expected)
    if case == 'init_cfg':
        # The loader's own words name the file.
        assert 'code.pth' in line


@pytest.mark.slow
def test_a_checkpoint_that_would_run_code(toy):
    line = tool(toy, 'test.py', CONFIG, toy / 'code.pth', '--work-dir',
                toy / 'code', '--cfg-options', *NO_WORKERS)
    assert line == (f'error: checkpoint {toy / "code.pth"}: refused: its '
                    'pickle names objects (builtins.print) whose rebuilding '
                    'would run code from the file; load only tensors and '
                    'plain data (where you trust the file, re-save its state '
                    'dict)')


@pytest.mark.slow
@pytest.mark.parametrize('door', ['test.py', 'infer.py'])
def test_an_image_that_is_text(toy, door):
    root = toy / 'text'
    image = 'data/toy_coco/val/000001.png'
    if door == 'test.py':
        # Loaded by a dataloader worker: the error comes through torch's
        # re-raise.
        line = tool(root, 'test.py', CONFIG, toy / 'toy.pth', '--work-dir',
                    root / 'test')
    else:
        line = tool(root, 'infer.py', CONFIG, toy / 'toy.pth', image,
                    '--out-dir', root / 'infer')
    assert line == (f'error: {image}: corrupt, truncated or not an image '
                    "(13 bytes, decoder 'cv2')")


@pytest.mark.parametrize('source, expected', [
    ('epoch_1.pth', 'error: checkpoint {path}: truncated or corrupt'),
    # The loader's own words follow.
    ('code.pth', 'error: cannot convert {path}: '),
    ('resnet.pth', 'error: cannot convert {path}: '),
])
def test_bad_checkpoints_to_convert(toy, load_tool, tmp_path, monkeypatch,
                                    source, expected):
    monkeypatch.delenv('MMDET_VIT_TRANSFER_DEBUG', raising=False)
    # A torchvision ResNet's names: no layout of a ViT.
    torch.save({'conv1.weight': torch.randn(8, 3, 7, 7),
                'layer1.0.conv1.weight': torch.randn(8, 8, 1, 1),
                'fc.weight': torch.randn(10, 8)}, toy / 'resnet.pth')
    path = toy / source
    with pytest.raises(SystemExit) as stop:
        load_tool('tools/convert_checkpoint.py').main(
            [str(path), str(tmp_path / 'out.pth')])
    lines = str(stop.value.code).splitlines()
    print(f'convert_checkpoint.py {source}\n  -> {lines[-1]}')
    # The hint where the traceback is, then the error.
    assert len(lines) == 2
    assert lines[-1].startswith(expected.format(path=path))
