"""Parameters, FLOPs, activations and inference speed of a detector.

Counted with mmengine's port of fvcore's jit counters, as detectron2 and the
paper count them: one fused multiply-add is one FLOP, activations are the
output elements of convolutions, linear layers and matrix products. The
detector runs in mmdet's ``'tensor'`` mode (the whole network without
post-processing: RPN proposals through the box head, the first 100 through
the mask head), like mmdet's ``tools/analysis_tools/get_flops.py``.
"""
import importlib
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.analysis import ActivationAnalyzer, FlopAnalyzer
from mmengine.analysis import parameter_count
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import track_iter_progress

import mmdet_vit_transfer  # noqa: F401  (registers the components)
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

#: Top-level parts of a detector reported separately.
DETECTOR_PARTS = ('backbone', 'neck', 'rpn_head', 'roi_head')


def _sdpa_shapes(inputs: List[Any]) -> Tuple[int, int, int, int, int]:
    """``(batch * heads, queries, keys, dims, value dims)`` of a
    ``scaled_dot_product_attention`` node."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for n in q[:-2]:
        batch *= n
    return batch, q[-2], k[-2], q[-1], v[-1]


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``scaled_dot_product_attention``: the two matrix products
    it fuses, ``q @ k^T`` and ``attn @ v`` (the softmax and the additive
    mask are element-wise and not counted, as fvcore does)."""
    batch, queries, keys, dims, value_dims = _sdpa_shapes(inputs)
    return batch * queries * keys * (dims + value_dims)


def sdpa_activation_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Activations of ``scaled_dot_product_attention``: the outputs of the
    two products it fuses, the attention matrix and the attended values."""
    batch, queries, keys, _, value_dims = _sdpa_shapes(inputs)
    return batch * queries * (keys + value_dims)


#: Traced attention operators: PyTorch's fused kernel and the package's
#: fused CPU attention (models/layers/cpu_fused_attention.py), traced as Python
#: autograd functions when its bias requires grad or is an offset grid. All
#: take q, k, v first.
ATTENTION_OPS = ('aten::scaled_dot_product_attention',
                 'prim::PythonOp._BiasedAttention',
                 'prim::PythonOp._GridBiasedAttention')


def _quiet(analyzer):
    # The skipped operators are reported in Complexity.unsupported_ops.
    return analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(
        False).tracer_warnings('none')


def count_flops(model: nn.Module, inputs: Tuple) -> FlopAnalyzer:
    """mmengine's FLOP counter with the attention operators counted
    (:func:`sdpa_flop_jit`)."""
    return _quiet(
        FlopAnalyzer(model, inputs).set_op_handle(
            **{op: sdpa_flop_jit for op in ATTENTION_OPS}))


def count_activations(model: nn.Module, inputs: Tuple) -> ActivationAnalyzer:
    """mmengine's activation counter with the attention operators counted
    (:func:`sdpa_activation_jit`)."""
    return _quiet(
        ActivationAnalyzer(model, inputs).set_op_handle(
            **{op: sdpa_activation_jit for op in ATTENTION_OPS}))


@dataclass
class Complexity:
    """Cost of a model on one input.

    Args:
        input_hw (tuple): height and width of the (padded) input.
        params (dict): part -> parameters; ``'total'`` is the whole model.
        flops (dict): part -> FLOPs (multiply-adds).
        activations (dict): part -> activations.
        seconds_per_image (float | None): best inference time of one image
            (``'predict'`` mode, post-processing included), when measured.
        unsupported_ops (dict): operator -> times the counters skipped it
            (NMS, RoIAlign and element-wise ops; cheap next to the rest).
    """
    input_hw: Tuple[int, int]
    params: Dict[str, int]
    flops: Dict[str, int]
    activations: Dict[str, int]
    seconds_per_image: Optional[float] = None
    unsupported_ops: Dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        """Markdown table, one row per reported part."""
        lines = [
            '| part | params (M) | FLOPs (G) | activations (M) |',
            '|---|---|---|---|'
        ]
        for name in self.params:
            lines.append(f'| {name} | {self.params[name] / 1e6:.2f}'
                         f' | {self.flops[name] / 1e9:.2f}'
                         f' | {self.activations[name] / 1e6:.2f} |')
        text = (f'Input {self.input_hw[0]}x{self.input_hw[1]}, batch 1; '
                'FLOPs count multiply-adds.\n\n' + '\n'.join(lines) + '\n')
        if self.seconds_per_image is not None:
            text += (f'\nInference: {self.seconds_per_image:.3f} s/image, '
                     f'{1 / self.seconds_per_image:.2f} images/s\n')
        return text


def load_config(config: Union[str, Config],
                cfg_options: Optional[dict] = None) -> Config:
    """A config from a file, or from a package as ``'mmdet::path.py'``."""
    if isinstance(config, Config):
        cfg = config.copy()
    else:
        path = config
        if '::' in config:
            package, rel = config.split('::', 1)
            root = osp.dirname(importlib.import_module(package).__file__)
            path = osp.join(root, '.mim', 'configs', rel)
        if not osp.isfile(path):
            raise FileNotFoundError(f'config {config} not found ({path})')
        cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def default_input_hw(cfg: Config) -> Tuple[int, int]:
    """The fixed input size of a config: its ``BatchFixedSizePad`` size.

    Raises:
        ValueError: the config pads to no fixed size.
    """
    augments = cfg.model.get('data_preprocessor', {}).get(
        'batch_augments') or []
    for augment in augments:
        if augment.get('type') == 'BatchFixedSizePad':
            return tuple(augment['size'])
    raise ValueError(
        'the config pads its inputs to no fixed size (no BatchFixedSizePad '
        'in model.data_preprocessor.batch_augments): give the input size, '
        'e.g. --shape 1024 1024')


def build_detector(cfg: Config) -> nn.Module:
    """The config's model in eval mode, on the CPU, at PyTorch's default
    init (counting needs no weights, and a config's pre-trained checkpoint
    need not be at hand)."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return MODELS.build(cfg.model).eval()


def synthetic_batch(model: nn.Module, input_hw: Tuple[int, int],
                    seed: int = 0) -> dict:
    """A random uint8 image of ``input_hw`` through the data preprocessor."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (3, *input_hw), dtype=torch.uint8,
                          generator=generator)
    sample = DetDataSample(metainfo=dict(
        img_shape=tuple(input_hw), ori_shape=tuple(input_hw),
        pad_shape=tuple(input_hw), scale_factor=(1.0, 1.0)))
    return model.data_preprocessor(
        dict(inputs=[image], data_samples=[sample]), False)


class _TensorMode(nn.Module):
    """The detector's ``'tensor'`` forward as a one-input module (tracing
    accepts tensors only)."""

    def __init__(self, detector: nn.Module, data_samples: Sequence):
        super().__init__()
        self.detector = detector
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor):
        return self.detector(inputs, self.data_samples, mode='tensor')


def time_inference(model: nn.Module, batch: dict, repeats: int) -> float:
    """Best wall time (s) of ``repeats`` predict-mode forwards, after one
    warm-up, with a progress bar."""
    times = []
    with torch.no_grad():
        model(batch['inputs'], batch['data_samples'], mode='predict')
        for _ in track_iter_progress(range(repeats)):
            start = time.perf_counter()
            model(batch['inputs'], batch['data_samples'], mode='predict')
            times.append(time.perf_counter() - start)
    return min(times)


def detector_complexity(config: Union[str, Config],
                        input_hw: Optional[Tuple[int, int]] = None,
                        repeats: int = 3,
                        cfg_options: Optional[dict] = None) -> Complexity:
    """Parameters, FLOPs, activations and speed of a config's detector.

    Args:
        config (str | Config): config file (or ``'mmdet::...'``).
        input_hw (tuple | None): input size; the config's fixed padded size
            by default.
        repeats (int): timed inference runs (best kept); 0 skips timing.
        cfg_options (dict | None): overrides merged into the config.

    Returns:
        Complexity: whole model and ``DETECTOR_PARTS``.
    """
    if repeats < 0:
        raise ValueError(f'repeats must be >= 0, got {repeats}')
    cfg = load_config(config, cfg_options)
    input_hw = tuple(input_hw or default_input_hw(cfg))
    if len(input_hw) != 2 or min(input_hw) < 1:
        raise ValueError(f'input size must be (height, width) > 0, got '
                         f'{input_hw}')
    model = build_detector(cfg)
    batch = synthetic_batch(model, input_hw)
    traced = _TensorMode(model, batch['data_samples'])
    with torch.no_grad():
        flops = count_flops(traced, (batch['inputs'], ))
        activations = count_activations(traced, (batch['inputs'], ))
        flop_by_module = flops.by_module()
        act_by_module = activations.by_module()
    params = parameter_count(model)
    # Module names as the counters see them (inside _TensorMode).
    parts = dict(total='', **{
        p: f'detector.{p}'
        for p in DETECTOR_PARTS if hasattr(model, p)
    })
    return Complexity(
        input_hw=input_hw,
        params={p: params[name.replace('detector.', '')]
                for p, name in parts.items()},
        flops={p: flop_by_module[name] for p, name in parts.items()},
        activations={p: act_by_module[name] for p, name in parts.items()},
        seconds_per_image=time_inference(model, batch, repeats)
        if repeats else None,
        unsupported_ops=dict(flops.unsupported_ops()))
