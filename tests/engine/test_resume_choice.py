from pathlib import Path

import torch

from mmdet_vit_transfer.engine.cli import build_train_parser, train_config
from mmdet_vit_transfer.engine.resume import (find_resumable_checkpoint,
                                              is_complete_checkpoint)

TOY_CONFIG = Path(__file__).parents[2] / 'configs' / 'toy_vit_tiny_maskrcnn.py'


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


def test_train_resume_flag_picks_the_complete_checkpoint(tmp_path):
    first = write_checkpoint(tmp_path / 'epoch_1.pth')
    cut = write_checkpoint(tmp_path / 'epoch_2.pth', truncate=True)
    (tmp_path / 'last_checkpoint').write_text(cut)
    args = build_train_parser().parse_args(
        [str(TOY_CONFIG), '--work-dir', str(tmp_path), '--resume'])
    cfg = train_config(args)
    assert cfg.resume is True and cfg.load_from == first
    args = build_train_parser().parse_args(
        [str(TOY_CONFIG), '--work-dir', str(tmp_path), '--resume', cut])
    assert train_config(args).load_from == cut


def test_train_resume_flag_without_a_complete_checkpoint_starts_fresh(
        tmp_path):
    cut = write_checkpoint(tmp_path / 'epoch_1.pth', truncate=True)
    (tmp_path / 'last_checkpoint').write_text(cut)
    args = build_train_parser().parse_args(
        [str(TOY_CONFIG), '--work-dir', str(tmp_path), '--resume'])
    cfg = train_config(args)
    assert cfg.resume is False and cfg.load_from is None
