import logging

import pytest

from mmdet_vit_transfer.datasets.coco_file_checks import AnnotationFileError
from mmdet_vit_transfer.utils import user_errors_exit


def test_a_user_error_becomes_one_line_and_its_traceback_goes_to_the_log(
        tmp_path, monkeypatch):
    monkeypatch.delenv('MMDET_VIT_TRANSFER_DEBUG', raising=False)
    logger = logging.getLogger('user-errors-test')
    log_file = tmp_path / 'run.log'
    logger.addHandler(logging.FileHandler(log_file))
    with pytest.raises(SystemExit) as stop, user_errors_exit(logger):
        raise AnnotationFileError('data/train.json', "'images' is empty")
    lines = str(stop.value.code).splitlines()
    assert lines[-1] == "error: annotation file data/train.json: 'images' " \
        'is empty'
    assert str(log_file) in lines[0]
    assert 'Traceback' in log_file.read_text()


def test_missing_files_are_user_errors_too(monkeypatch):
    monkeypatch.delenv('MMDET_VIT_TRANSFER_DEBUG', raising=False)
    with pytest.raises(SystemExit) as stop, user_errors_exit():
        raise FileNotFoundError('data/x.json does not exist')
    assert str(stop.value.code).endswith('error: data/x.json does not exist')


def test_the_debug_variable_keeps_the_exception(monkeypatch):
    monkeypatch.setenv('MMDET_VIT_TRANSFER_DEBUG', '1')
    with pytest.raises(AnnotationFileError), user_errors_exit():
        raise AnnotationFileError('a.json', 'broken')


def test_defects_keep_their_traceback(monkeypatch):
    monkeypatch.delenv('MMDET_VIT_TRANSFER_DEBUG', raising=False)
    with pytest.raises(KeyError), user_errors_exit():
        raise KeyError('a bug')
