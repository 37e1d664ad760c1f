import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import save_checkpoint

import mmdet_vit_transfer  # noqa: F401  (allow-lists mmengine's types)


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


def test_resume_state_loads_with_weights_only(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    mmengine_style_checkpoint(path)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    hub = ckpt['meta']['message_hub']
    assert hub['log_scalars']['train/loss'].current() == 0.5
    assert ckpt['meta']['seed'] == 3


class Getter:

    def __reduce__(self):
        return (getattr, (np.ndarray, '__class__'))


def test_getattr_is_limited_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': Getter()}, path)
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(path, weights_only=True)


class Payload:

    def __reduce__(self):
        return (print, ('this must never run',))


def test_arbitrary_objects_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
