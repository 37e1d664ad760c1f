from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmdet_vit_transfer.engine import TransferRunner
from mmdet_vit_transfer.engine.resume import find_resumable_checkpoint
from mmdet_vit_transfer.utils import (CheckpointFileError,
                                      is_complete_checkpoint)


def write_checkpoint(path, truncate=False):
    torch.save({'state_dict': {'w': torch.randn(64, 64)}}, path)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    return str(path)


def test_completeness_is_read_from_the_zip_directory(tmp_path):
    good = write_checkpoint(tmp_path / 'good.pth')
    cut = write_checkpoint(tmp_path / 'cut.pth', truncate=True)
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert is_complete_checkpoint(good)
    assert not is_complete_checkpoint(cut)
    assert not is_complete_checkpoint(tmp_path / 'empty.pth')
    assert not is_complete_checkpoint(tmp_path / 'missing.pth')


def test_the_pointer_is_followed_when_it_names_a_complete_file(tmp_path):
    write_checkpoint(tmp_path / 'epoch_1.pth')
    second = write_checkpoint(tmp_path / 'epoch_2.pth')
    (tmp_path / 'last_checkpoint').write_text(second)
    assert find_resumable_checkpoint(tmp_path) == second


def test_a_truncated_latest_checkpoint_falls_back(tmp_path):
    write_checkpoint(tmp_path / 'epoch_9.pth')
    tenth = write_checkpoint(tmp_path / 'epoch_10.pth')
    eleventh = write_checkpoint(tmp_path / 'epoch_11.pth', truncate=True)
    (tmp_path / 'last_checkpoint').write_text(eleventh)
    # epoch_10 beats epoch_9: steps are compared as numbers.
    assert find_resumable_checkpoint(tmp_path) == tenth


def test_an_empty_or_missing_pointer_falls_back(tmp_path):
    third = write_checkpoint(tmp_path / 'iter_3.pth')
    write_checkpoint(tmp_path / 'iter_2.pth')
    assert find_resumable_checkpoint(tmp_path) == third
    (tmp_path / 'last_checkpoint').write_text('')
    assert find_resumable_checkpoint(tmp_path) == third


def test_nothing_to_resume_from(tmp_path):
    write_checkpoint(tmp_path / 'epoch_1.pth', truncate=True)
    (tmp_path / 'best_coco_bbox_mAP_epoch_1.pth').write_bytes(b'')
    assert find_resumable_checkpoint(tmp_path) is None
    assert find_resumable_checkpoint(tmp_path / 'not_created') is None


class RecordingRunner(TransferRunner):
    """The runner's choice of what to load, without a model: ``resume`` and
    ``load_checkpoint`` only record their file."""

    def __init__(self, work_dir, load_from=None, resume=False):
        self.cfg = Config()
        self._work_dir = str(work_dir)
        self._load_from, self._resume = load_from, resume
        self._has_loaded = False
        self.calls = []

    def resume(self, filename, *args, **kwargs):
        self.calls.append(('resume', filename))

    def load_checkpoint(self, filename, *args, **kwargs):
        self.calls.append(('load', filename))


def test_resume_flag_picks_the_complete_checkpoint(tmp_path):
    first = write_checkpoint(tmp_path / 'epoch_1.pth')
    cut = write_checkpoint(tmp_path / 'epoch_2.pth', truncate=True)
    (tmp_path / 'last_checkpoint').write_text(cut)
    # mmdet's tools/train.py --resume: resume=True, load_from=None.
    runner = RecordingRunner(tmp_path, resume=True)
    runner.load_or_resume()
    assert runner.calls == [('resume', first)]


def test_resume_flag_without_a_complete_checkpoint_starts_fresh(tmp_path):
    cut = write_checkpoint(tmp_path / 'epoch_1.pth', truncate=True)
    (tmp_path / 'last_checkpoint').write_text(cut)
    runner = RecordingRunner(tmp_path, resume=True)
    runner.load_or_resume()
    assert runner.calls == []


@pytest.mark.parametrize('resume', [True, False])
def test_a_named_broken_checkpoint_is_refused_by_name(tmp_path, resume):
    # --resume PATH, load_from and tools/test.py's CHECKPOINT.
    cut = write_checkpoint(tmp_path / 'epoch_2.pth', truncate=True)
    runner = RecordingRunner(tmp_path, load_from=cut, resume=resume)
    with pytest.raises(CheckpointFileError, match='epoch_2.pth: truncated'):
        runner.load_or_resume()
    assert runner.calls == []


def test_a_named_checkpoint_is_loaded_as_given(tmp_path):
    first = write_checkpoint(tmp_path / 'epoch_1.pth')
    write_checkpoint(tmp_path / 'epoch_2.pth')
    runner = RecordingRunner(tmp_path, load_from=first, resume=True)
    runner.load_or_resume()
    assert runner.calls == [('resume', first)]
    runner = RecordingRunner(tmp_path, load_from=first)
    runner.load_or_resume()
    assert runner.calls == [('load', first)]


def test_configs_select_the_runner_that_mmdets_tools_build():
    from mmengine.registry import RUNNERS

    from mmdet_vit_transfer.engine.runner import RUNNER_TYPE

    cfg = Config.fromfile(Path(__file__).parents[2] / 'configs' /
                          'toy_vit_tiny_maskrcnn.py')
    assert cfg.runner_type == RUNNER_TYPE
    # mmdet's tools/train.py builds `runner_type` from mmengine's registry.
    assert RUNNERS.get(cfg.runner_type) is TransferRunner


class ScalingRunner(TransferRunner):
    """What ``--auto-scale-lr`` reads, without a model: the processes and
    the batch size of an iteration."""

    def __init__(self, world_size, batch_size):
        self._world_size = world_size
        self._train_dataloader = dict(batch_size=batch_size)
        self.param_schedulers = None
        self.logger = MMLogger.get_instance('scale_lr_test')


@pytest.mark.parametrize('world_size,batch_size,accumulate,expected', [
    (8, 2, 4, 1.0),  # 8 GPUs x 2 images x 4 iterations: the base batch
    (8, 2, 1, 0.25),
    (1, 1, 16, 0.25),
])
def test_auto_scale_lr_counts_gradient_accumulation(world_size, batch_size,
                                                    accumulate, expected):
    from mmengine.optim import OptimWrapper
    wrapper = OptimWrapper(
        torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=8e-5),
        accumulative_counts=accumulate)
    ScalingRunner(world_size, batch_size).scale_lr(
        wrapper, dict(enable=True, base_batch_size=64))
    assert wrapper.optimizer.param_groups[0]['lr'] == pytest.approx(
        8e-5 * expected)
