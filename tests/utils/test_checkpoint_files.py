import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import save_checkpoint

from mmdet_vit_transfer.utils import (CheckpointFileError,
                                      check_checkpoint_file,
                                      mmengine_checkpoint_globals)
from mmdet_vit_transfer.utils.checkpoint_files import \
    mmengine_checkpoint_types


def allowed_mmengine_types():
    allowed = torch.serialization.get_safe_globals()
    return [t for t in mmengine_checkpoint_types() if t in allowed]


def mmengine_style_checkpoint(path):
    hub = MessageHub.get_instance('safe-load-test')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/lr', 1e-4)
    hub.update_info('iter', 7)
    save_checkpoint(
        dict(meta=dict(seed=np.int64(3), message_hub=hub.state_dict(),
                       epoch=1, iter=7),
             state_dict={'w': torch.ones(2)},
             optimizer=dict(state={}, param_groups=[dict(lr=1e-4)])),
        str(path))


def test_resume_state_loads_with_weights_only_inside_the_block(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    mmengine_style_checkpoint(path)
    with mmengine_checkpoint_globals():
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    hub = ckpt['meta']['message_hub']
    assert hub['log_scalars']['train/loss'].current() == 0.5
    assert ckpt['meta']['seed'] == 3


def test_importing_the_package_leaves_torch_load_alone(tmp_path):
    import mmdet_vit_transfer  # noqa: F401

    path = tmp_path / 'epoch_1.pth'
    mmengine_style_checkpoint(path)
    assert allowed_mmengine_types() == []
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu', weights_only=True)


def test_a_nested_block_keeps_the_outer_allow_list(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    mmengine_style_checkpoint(path)
    with mmengine_checkpoint_globals():
        with mmengine_checkpoint_globals([pickle.PickleError]):
            pass
        torch.load(path, map_location='cpu', weights_only=True)
    assert allowed_mmengine_types() == []


class Getter:

    def __reduce__(self):
        return (getattr, (np.ndarray, '__class__'))


def test_getattr_is_limited_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': Getter()}, path)
    with mmengine_checkpoint_globals(), \
            pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(path, weights_only=True)


class Payload:

    def __reduce__(self):
        return (print, ('this must never run',))


def test_arbitrary_objects_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': Payload()}, path)
    with mmengine_checkpoint_globals(), \
            pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def damaged_checkpoint(path, damage):
    torch.save({'state_dict': {'w': torch.arange(4096.)}}, path)
    data = path.read_bytes()
    if damage == 'truncate':
        path.write_bytes(data[:len(data) // 2])
    elif damage == 'empty':
        path.write_bytes(b'')
    elif damage == 'text':
        path.write_text('<html>404 Not Found</html>')
    elif damage == 'flip':
        # A byte inside the tensor data: the archive is whole, its CRC not.
        at = data.index(torch.arange(4096.)[1000:1001].numpy().tobytes())
        path.write_bytes(data[:at] + b'\xff' + data[at + 1:])
    elif damage == 'gap':
        # 4 kB gone from the tensor data, the directory intact.
        at = data.index(torch.arange(4096.)[0:1].numpy().tobytes())
        path.write_bytes(data[:at] + data[at + 4096:])
    else:
        path.unlink()


@pytest.mark.parametrize('damage, problem', [
    ('truncate', 'truncated or corrupt'),
    ('empty', 'the file is empty'),
    ('text', 'not a PyTorch checkpoint'),
    ('gap', 'corrupt'),
    ('missing', 'no such file'),
])
def test_broken_checkpoint_files_are_named(tmp_path, damage, problem):
    path = tmp_path / 'epoch_1.pth'
    damaged_checkpoint(path, damage)
    with pytest.raises(CheckpointFileError, match=problem) as error:
        check_checkpoint_file(path)
    assert str(path) in str(error.value)


def test_a_flipped_data_byte_is_found_by_the_checksums_when_asked(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    damaged_checkpoint(path, 'flip')
    # The quick check reads the directory and headers, not the data.
    check_checkpoint_file(path)
    with pytest.raises(CheckpointFileError,
                       match='record .*data/0 fails its checksum'):
        check_checkpoint_file(path, verify_checksums=True)


def test_intact_checkpoints_pass(tmp_path):
    zipped, legacy = tmp_path / 'new.pth', tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(2)}, zipped)
    torch.save({'w': torch.ones(2)}, legacy,
               _use_new_zipfile_serialization=False)
    check_checkpoint_file(zipped)
    check_checkpoint_file(legacy)
    # A URL is left to its loader.
    check_checkpoint_file('https://example.com/remote.pth')
