"""The walk-through of a dataset of one's own (docs/your_dataset.md) runs as
written: the
second toy set (other classes, sizes and non-contiguous category ids), the
written configs, Mask R-CNN and box-only training with evaluation, and the
predictions with the dataset's ids and names. Only the sizes change: 4
training images, one epoch of 4 iterations."""
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
from mmengine.config import Config
from subprocess_runs import LOAD_FACTOR, run

REPO = Path(__file__).parents[1]
#: Appended to the commands: the same runs, smaller.
SMALLER = {
    'tools/make_toy_coco.py': ['--num-train', '4', '--num-val', '1'],
    'tools/train.py': [
        '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'train_dataloader.batch_size=1',
        *(f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
          for key in ('num_workers=0', 'persistent_workers=False'))
    ],
}
#: Starting Python and building the toy runner take about 20 s.
TIMEOUT = 120 * LOAD_FACTOR


def walkthrough():
    """The commands of the docs' bash block that makes the toy set."""
    blocks = re.findall(r'```bash\n(.*?)```',
                        (REPO / 'docs' / 'your_dataset.md').read_text(),
                        re.S)
    block = next(b for b in blocks if 'make_toy_coco.py data/toy_shapes' in b)
    return block.strip().splitlines()


def test_the_walkthrough_shows_every_step():
    tools = [line.split()[1] for line in walkthrough()]
    assert tools == ['tools/make_toy_coco.py', 'tools/make_toy_coco.py',
                     'tools/dataset_config.py', 'tools/train.py',
                     'tools/infer.py', 'tools/dataset_config.py',
                     'tools/train.py']


@pytest.mark.slow
def test_the_readme_walkthrough_runs(tmp_path):
    for folder in ('tools', 'configs'):
        (tmp_path / folder).symlink_to(REPO / folder)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1',
               PATH=f'{Path(sys.executable).parent}:{os.environ["PATH"]}')
    outputs = []
    for line in walkthrough():
        extra = ' '.join(SMALLER.get(line.split()[1], []))
        start = time.perf_counter()
        result = run(['bash', '-c', f'{line} {extra}'], timeout=TIMEOUT,
                     cwd=tmp_path, env=env)
        print(f'{time.perf_counter() - start:6.1f} s  {line[:70]}')
        assert result.returncode == 0, f'{line}\n{result.output[-3000:]}'
        outputs.append(result.output)

    work = tmp_path / 'work_dirs' / 'toy_shapes'
    for name in ('maskrcnn', 'fasterrcnn'):
        cfg = Config.fromfile(str(work / f'{name}.py'))
        assert cfg.train_dataloader.dataset.metainfo.classes == ('star',
                                                                 'cross')
        assert cfg.model.roi_head.bbox_head.num_classes == 2
    # Both runs evaluated on the validation set; the box-only one on boxes.
    mask_train, box_train = outputs[3], outputs[6]
    assert re.search(r'Epoch\(val\) \[1\]\[1/1\] +coco/bbox_mAP: .*'
                     r'coco/segm_mAP: ', mask_train)
    assert re.search(r'Epoch\(val\) \[1\]\[1/1\] +coco/bbox_mAP: ',
                     box_train)
    assert 'segm_mAP' not in box_train

    # The predictions: drawn, and a COCO results file with the set's ids.
    predictions = work / 'predictions'
    assert (predictions / 'vis' / '000001.png').is_file()
    results = json.loads((predictions / 'results.json').read_text())
    assert results
    assert {r['image_id'] for r in results} == {1}
    assert {(r['category_id'], r['category_name']) for r in results} <= {
        (7, 'star'), (42, 'cross')}
    assert all('segmentation' in r and len(r['bbox']) == 4 for r in results)
