"""CUDA check of the plain ViT backbones and the ViT-B Mask R-CNN: speed,
memory, the attention kernels that ran and the error of each precision.

Prints one markdown table. Backbone rows: ViT-B, ViT-L and ViT-H at
1024x1024 (window 14 with four global blocks, the shared relative-position
tables, ``attn_backend='auto'``), batch 1 and 2, fp32 and bf16 / fp16
autocast, without and with activation checkpointing (``with_cp``): the time
of a forward + backward pass and of an inference forward pass, the peak
CUDA memory of the training pass (weights, gradients and activations; the
detector's rows add the optimizer's state), the
``scaled_dot_product_attention`` kernels that its forward pass ran (from
``torch.profiler``; the backward pass runs their backward kernels), and
the largest error of the outputs and of the weight gradients against
float64 on a 256x256 input (max |difference| over max |float64 value|;
``inf`` or ``nan`` is an overflow). The weights are the random init plus N(0, 0.02) noise on every
parameter, so that the zero-initialised relative-position tables take
part. Then the Mask R-CNN rows (``configs/mae_vitb_maskrcnn_100e.py``,
random init): the runner's training step (``train_step`` with the config's
optimizer wrapper, or for bf16 / fp16 what ``--amp`` makes of it) and
``test_step`` (post-processing included, every detection kept) under the
same autocast, on synthetic images with random boxes and masks (its
backbone runs the kernels of the ViT-B rows); on a GPU they need mmcv built
with its CUDA ops. A configuration that fails (out of
memory, a kernel without that dtype) says so in its row.

    python benchmarks/gpu/cuda_check.py                       # on a GPU
    python benchmarks/gpu/cuda_check.py --archs base --parts backbone
    python benchmarks/gpu/cuda_check.py --device cpu --tiny   # any CPU

``--tiny``: one tiny ViT (8 blocks of width 32) at 128x128 and the toy
detector (``configs/toy_vit_tiny_maskrcnn.py``) at 128x128, the same code
at a size that takes seconds on a CPU; the test suite runs it.

Self-contained. On a machine with a CUDA torch (and the scientific stack
that comes with its image) and this repository, but no OpenMMLab stack and
no network, it installs what it needs from ``.gpu_wheels/`` (``make
gpu-wheels`` downloads it on a machine with network: the wheels of
``benchmarks/gpu/wheels.txt`` and mmcv's source, about 10 MiB, to travel
with the tree): it builds mmcv with the CUDA ops of the visible GPU's
architecture (``scripts/mmcv_wheel.sh``; the wheel is kept in
``.gpu_wheels/mmcv`` for the next run; importing the package needs mmcv's
compiled ops, so the backbone rows need it too), installs everything into
``.gpu_wheels/site`` and runs itself again with that folder on
``PYTHONPATH``.
"""
import argparse
import copy
import dataclasses
import os
import statistics
import subprocess
import sys
import time
import traceback
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
WHEELS = REPO / '.gpu_wheels'
PRECISIONS = ('fp32', 'bf16', 'fp16')
#: The forward ops of ``scaled_dot_product_attention``'s kernels, as the
#: profiler names them.
SDPA_KERNELS = {
    'aten::_scaled_dot_product_flash_attention': 'flash',
    'aten::_scaled_dot_product_efficient_attention': 'memory-efficient',
    'aten::_scaled_dot_product_cudnn_attention': 'cuDNN',
    'aten::_scaled_dot_product_attention_math': 'math',
    'aten::_scaled_dot_product_flash_attention_for_cpu': 'flash (CPU)',
}


@dataclasses.dataclass(frozen=True)
class Scale:
    """What the table covers: the paper's sizes, or tiny ones."""
    archs: Tuple[Tuple[str, object], ...]
    size: int
    window_size: int
    error_size: int
    detector: str
    detector_config: str
    detector_size: int


FULL = Scale(
    archs=(('ViT-B', 'base'), ('ViT-L', 'large'), ('ViT-H', 'huge')),
    size=1024, window_size=14, error_size=256, detector='Mask R-CNN ViT-B',
    detector_config='configs/mae_vitb_maskrcnn_100e.py', detector_size=1024)
TINY = Scale(
    archs=(('tiny ViT', dict(embed_dims=32, depth=8, num_heads=2)), ),
    size=128, window_size=4, error_size=64, detector='toy Mask R-CNN',
    detector_config='configs/toy_vit_tiny_maskrcnn.py', detector_size=128)


# ---------------------------------------------------------------- set-up
def stack_imports() -> bool:
    """Whether the package and mmcv's compiled ops import here."""
    sys.path.insert(0, str(REPO))
    try:
        import mmdet_vit_transfer  # noqa: F401
    except ImportError:
        return False
    return True


def install_stack(wheels: Path) -> Path:
    """Install the stack from the wheels in ``wheels``, offline, into
    ``wheels/site`` (for ``PYTHONPATH``) and return that folder; mmcv is
    built first, for the visible GPU."""
    if not any(wheels.glob('mmcv-*.tar.gz')):
        raise SystemExit(
            f'the OpenMMLab stack does not import and {wheels} holds no '
            'wheels: run `make gpu-wheels` on a machine with network and '
            'bring .gpu_wheels/ along')
    site = wheels / 'site'
    offline = dict(os.environ, PIP_NO_INDEX='1', PIP_FIND_LINKS=str(wheels),
                   PIP_DISABLE_PIP_VERSION_CHECK='1',
                   MMDET_VIT_TRANSFER_WHEELS=str(wheels / 'mmcv'))
    mmcv = subprocess.run(
        ['bash', str(REPO / 'scripts' / 'mmcv_wheel.sh'), sys.executable],
        env=offline, check=True, stdout=subprocess.PIPE,
        text=True).stdout.splitlines()[-1]
    # No dependencies: the machine has the rest, and mmcv's opencv-python
    # is its opencv-python-headless.
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
        '--upgrade', '--target', str(site), mmcv, '-r',
        str(REPO / 'benchmarks' / 'gpu' / 'wheels.txt')
    ], env=offline, check=True)
    return site


def run_with_stack(wheels: Path, argv: Sequence[str]) -> None:
    """Run this script again with the stack of ``wheels/site`` on the path,
    installing it first if it is not there."""
    site = wheels / 'site'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(site), str(REPO)] + [os.environ.get('PYTHONPATH', '')]))
    if subprocess.run([sys.executable, '-c', 'import mmdet_vit_transfer'],
                      env=env, capture_output=True).returncode:
        install_stack(wheels)
    # Once only: if the stack still does not import, the run says why.
    env['CUDA_CHECK_STACK'] = str(site)
    os.execve(sys.executable, [sys.executable, __file__, *argv], env)


# ----------------------------------------------------------- measurements
def synchronize(device) -> None:
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], None], device, repeats: int) -> float:
    """Median wall time (s) of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_gib(fn: Callable[[], None], device) -> Optional[float]:
    """Peak CUDA memory (GiB) allocated during ``fn``; None (and ``fn``
    not run) on a CPU."""
    import torch
    if device.type != 'cuda':
        return None
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**30


def sdpa_kernels(fn: Callable[[], None]) -> str:
    """The SDPA kernels ``fn`` ran, with how often: ``'math x4'``. The
    backward pass runs those of the forward pass; ``fn`` is a training
    forward pass (the kernel choice depends on whether gradients are
    needed), which the profiler takes a tenth of the time to sort out."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    counts = Counter(SDPA_KERNELS[e.name] for e in prof.events()
                     if e.name in SDPA_KERNELS)
    return ', '.join(f'{k} x{n}' for k, n in counts.most_common()) or \
        'none (not SDPA)'


def autocast(device, precision: str):
    import torch
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def perturb(model, std: float = 0.02) -> None:
    import torch
    generator = torch.Generator(device='cpu').manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator).to(p) * std)


def build_backbone(scale: Scale, arch, with_cp: bool, device):
    import torch
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    with torch.device(device):
        model = MODELS.build(dict(
            type='PlainViTPyramid', arch=arch, img_size=scale.size,
            window_size=scale.window_size, with_cp=with_cp))
    model.init_weights()
    perturb(model)
    return model


def outputs_and_grads(model, x, cotangents, device, precision):
    """Outputs and weight gradients of one training pass."""
    import torch
    model.train()
    model.zero_grad(set_to_none=True)
    with autocast(device, precision):
        outs = model(x)
    torch.autograd.backward(
        outs, [c.to(o.dtype) for o, c in zip(outs, cotangents)])
    grads = [p.grad.detach().clone() for p in model.parameters()
             if p.grad is not None]
    model.zero_grad(set_to_none=True)
    return [o.detach() for o in outs], grads


def relative_error(values, reference) -> float:
    """max |value - reference| over max |reference|, over all tensors
    (``reference`` on the CPU)."""
    worst = max((v.double().cpu() - r).abs().max().item()
                for v, r in zip(values, reference))
    return worst / max(r.abs().max().item() for r in reference)


class Reference:
    """float64 outputs and gradients of a backbone on a small input, kept
    on the CPU so that the peak CUDA memory of a row is its own."""

    def __init__(self, model, scale: Scale, device):
        import torch
        generator = torch.Generator(device='cpu').manual_seed(1)
        self.x = torch.randn(1, 3, scale.error_size, scale.error_size,
                             generator=generator).to(device)
        double = copy.deepcopy(model).double()
        with torch.no_grad():
            shapes = [o.shape for o in double(self.x.double())]
        self.cotangents = [
            torch.randn(s, generator=generator, dtype=torch.float64).to(
                device) for s in shapes
        ]
        outs, grads = outputs_and_grads(double, self.x.double(),
                                        self.cotangents, device, 'fp32')
        self.outs = [o.cpu() for o in outs]
        self.grads = [g.cpu() for g in grads]
        del double, outs, grads

    def errors(self, model, device, precision: str) -> Tuple[float, float]:
        outs, grads = outputs_and_grads(model, self.x, self.cotangents,
                                        device, precision)
        return (relative_error(outs, self.outs),
                relative_error(grads, self.grads))


@dataclasses.dataclass
class Row:
    model: str
    batch: int
    precision: str
    with_cp: bool
    train_s: Optional[float] = None
    forward_s: Optional[float] = None
    peak_gib: Optional[float] = None
    kernels: str = '-'
    out_error: Optional[float] = None
    grad_error: Optional[float] = None
    failure: str = ''

    def markdown(self) -> str:

        def ms(s):
            return '-' if s is None else f'{1000 * s:.1f}'

        def number(v, spec):
            return '-' if v is None else format(v, spec)

        cells = [ms(self.train_s), ms(self.forward_s),
                 number(self.peak_gib, '.2f'), self.kernels,
                 number(self.out_error, '.1e'),
                 number(self.grad_error, '.1e')]
        if self.failure:
            cells = [self.failure] + ['-'] * (len(cells) - 1)
        return (f'| {self.model} | {self.batch} | {self.precision} | '
                f"{'yes' if self.with_cp else 'no'} | " + ' | '.join(cells) +
                ' |')


HEADER = ('| model | batch | precision | with_cp | train pass (ms) '
          '| inference (ms) | peak train memory (GiB) | SDPA kernels '
          '| output error vs fp64 | gradient error vs fp64 |\n'
          '|---|---|---|---|---|---|---|---|---|---|')


def guarded(row: Row, measure: Callable[[Row], None], device) -> Row:
    """``measure(row)``; an error becomes the row's result (and its
    traceback goes to stderr), so that one configuration cannot stop the
    table."""
    import torch
    try:
        measure(row)
    except torch.OutOfMemoryError:
        row.failure = 'out of memory'
    except Exception as error:  # noqa: B902 reported in the table
        traceback.print_exc()
        message = f'{type(error).__name__}: {error}'.splitlines()[0]
        row.failure = message if len(message) <= 80 else message[:77] + '...'
    finally:
        if device.type == 'cuda':
            torch.cuda.empty_cache()
    return row


def backbone_rows(scale: Scale, batches: Sequence[int],
                  precisions: Sequence[str], device, repeats: int):
    import torch
    for name, arch in scale.archs:
        reference = None
        for with_cp in (False, True):
            model = build_backbone(scale, arch, with_cp, device)
            if reference is None:
                reference = Reference(model, scale, device)
            for batch in batches:
                x = torch.randn(batch, 3, scale.size, scale.size,
                                device=device)
                for precision in precisions:

                    def train_forward():
                        model.train()
                        with autocast(device, precision):
                            return model(x)

                    def train():
                        outs = train_forward()
                        sum(o.float().mean() for o in outs).backward()
                        model.zero_grad(set_to_none=True)

                    def infer():
                        model.eval()
                        with torch.no_grad(), autocast(device, precision):
                            model(x)

                    def measure(row):
                        row.train_s = median_time(train, device, repeats)
                        row.forward_s = median_time(infer, device, repeats)
                        row.peak_gib = peak_memory_gib(train, device)
                        row.kernels = sdpa_kernels(train_forward)
                        row.out_error, row.grad_error = reference.errors(
                            model, device, precision)

                    yield guarded(Row(name, batch, precision, with_cp),
                                  measure, device)
            del model
        del reference


def detector_inputs(model, batch: int, size: int, seed: int) -> dict:
    """A batch as the data loader gives it: uint8 images and samples with
    a few random boxes and box-shaped masks."""
    import numpy as np
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    rng = np.random.default_rng(seed)
    num_classes = model.roi_head.bbox_head.num_classes
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.from_numpy(
            rng.integers(0, 256, (3, size, size), dtype=np.uint8)))
        n = 4
        xy = rng.uniform(0, size / 2, (n, 2))
        wh = rng.uniform(size / 16, size / 2, (n, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        masks = np.zeros((n, size, size), np.uint8)
        for m, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
            m[y1:y2, x1:x2] = 1
        sample = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size),
            scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.from_numpy(boxes),
            labels=torch.from_numpy(rng.integers(0, num_classes, n)),
            masks=BitmapMasks(masks, size, size))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def mmcv_runs_on(device) -> bool:
    from mmcv.ops import get_compiling_cuda_version
    return device.type == 'cpu' or \
        get_compiling_cuda_version() != 'not available'


def build_detector(scale: Scale, device):
    """The detector of ``scale``'s config, randomly initialised, and the
    config's ``optim_wrapper``."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(REPO / scale.detector_config)
    init_default_scope('mmdet')
    cfg.model.backbone.pop('init_cfg', None)
    cfg.model.backbone.img_size = scale.detector_size
    cfg.model.data_preprocessor.batch_augments[0].size = (
        scale.detector_size, scale.detector_size)
    # Every detection reaches the mask head, as with a trained model.
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    perturb(model.backbone)
    return model.to(device), cfg.optim_wrapper


def optim_wrapper_for(model, optim_wrapper, precision: str, device):
    """The config's optimizer wrapper, or what ``--amp`` makes of it with
    the row's dtype: mmengine's ``AmpOptimWrapper`` on a GPU (the whole
    detector under autocast, dynamic loss scaling), the package's bfloat16
    wrapper on a CPU (backbone and neck only)."""
    from mmengine.optim import build_optim_wrapper

    from mmdet_vit_transfer.engine.optimizers import select_amp_optim_wrapper
    optim_wrapper = copy.deepcopy(optim_wrapper)
    if precision != 'fp32':
        optim_wrapper.update(
            type=select_amp_optim_wrapper(
                'AmpOptimWrapper', accelerator=device.type != 'cpu'),
            loss_scale='dynamic',
            dtype={'bf16': 'bfloat16', 'fp16': 'float16'}[precision])
    return build_optim_wrapper(model, optim_wrapper)


def detector_rows(scale: Scale, batches: Sequence[int],
                  precisions: Sequence[str], device, repeats: int):
    """The runner's training step (``train_step`` with the config's
    optimizer wrapper) and ``test_step`` under the same autocast."""
    import torch
    model, optim_wrapper_cfg = build_detector(scale, device)
    for batch in batches:
        data = detector_inputs(model, batch, scale.detector_size, batch)
        for precision in precisions:

            def measure(row):
                wrapper = optim_wrapper_for(model, optim_wrapper_cfg,
                                            precision, device)

                def train():
                    model.train()
                    model.train_step(data, wrapper)

                def infer():
                    model.eval()
                    with torch.no_grad(), wrapper.optim_context(model):
                        model.test_step(data)

                row.train_s = median_time(train, device, repeats)
                row.forward_s = median_time(infer, device, repeats)
                row.peak_gib = peak_memory_gib(train, device)

            yield guarded(Row(scale.detector, batch, precision, False),
                          measure, device)


def describe(device) -> str:
    import mmcv
    import torch
    from mmcv.ops import get_compiling_cuda_version
    if device.type == 'cuda':
        where = (f'{torch.cuda.get_device_name(device)}, CUDA '
                 f'{torch.version.cuda}, cuDNN '
                 f'{torch.backends.cudnn.version()}')
    else:
        where = f'CPU, {torch.get_num_threads()} threads'
    return (f'{date.today()}, {where}, torch {torch.__version__}, mmcv '
            f'{mmcv.__version__} (CUDA ops: '
            f'{get_compiling_cuda_version()})')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cuda',
                        help='cuda (default), cuda:N or cpu')
    parser.add_argument('--tiny', action='store_true',
                        help='a tiny ViT at 128x128 and the toy detector at '
                        '128x128 instead of ViT-B/L/H and the ViT-B '
                        'Mask R-CNN at 1024x1024')
    parser.add_argument('--archs', nargs='+', choices=[a for _, a in FULL.archs],
                        default=[a for _, a in FULL.archs],
                        help='backbone sizes (ignored with --tiny)')
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--precisions', nargs='+', default=list(PRECISIONS),
                        choices=PRECISIONS)
    parser.add_argument('--parts', nargs='+', default=['backbone', 'detector'],
                        choices=['backbone', 'detector'])
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed runs per figure, after a warm-up; the '
                        'median is shown (default 3, 1 with --tiny)')
    parser.add_argument('--threads', type=int, default=None,
                        help="torch's CPU threads (default: torch's choice; "
                        'with --tiny 1: tiny models gain nothing from more '
                        'and a busy machine makes them wait for each other)')
    parser.add_argument('--wheels', type=Path, default=WHEELS,
                        help='where the stack is installed from when it '
                        'does not import (default .gpu_wheels)')
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.tiny else 3
    if args.threads is None and args.tiny:
        args.threads = 1
    if args.repeats < 1 or min(args.batches) < 1:
        parser.error('--repeats and --batches must be positive')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if not stack_imports() and 'CUDA_CHECK_STACK' not in os.environ:
        run_with_stack(args.wheels,
                       sys.argv[1:] if argv is None else list(argv))
    import torch
    from mmengine.logging import MMLogger
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    # Only warnings from mmengine's logger: not every weight's init.
    MMLogger.get_instance('cuda_check', log_level='WARNING')
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(f'--device {args.device}: torch {torch.__version__} '
                         'sees no CUDA device; --device cpu runs on the CPU')
    scale = TINY if args.tiny else dataclasses.replace(
        FULL, archs=tuple(a for a in FULL.archs if a[1] in args.archs))
    print(describe(device))
    print(f'median of {args.repeats} after a warm-up; errors on a '
          f'{scale.error_size}x{scale.error_size} input')
    parts = []
    if 'backbone' in args.parts:
        parts.append(backbone_rows(scale, args.batches, args.precisions,
                                   device, args.repeats))
    if 'detector' in args.parts:
        if mmcv_runs_on(device):
            parts.append(detector_rows(scale, args.batches, args.precisions,
                                       device, args.repeats))
        else:
            print('no Mask R-CNN rows: mmcv was built without CUDA ops')
    print('\n' + HEADER, flush=True)
    for rows in parts:
        for row in rows:
            print(row.markdown(), flush=True)


if __name__ == '__main__':
    main()
