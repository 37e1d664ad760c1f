"""benchmarks/gpu/cuda_check.py at its tiny size on the CPU: every row of
its table, and nothing imported that neither the wheels it travels with
(benchmarks/gpu/wheels.txt) nor the GPU machine provide."""
import json
import sys
from importlib import metadata, util
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from subprocess_runs import LOAD_FACTOR, run

REPO = Path(__file__).parents[2]
SCRIPT = REPO / 'benchmarks' / 'gpu' / 'cuda_check.py'
#: What the GPU machine's Python has that the check imports: torch, timm
#: and the scientific stack of its image, and what they require.
GPU_MACHINE = ('torch', 'timm', 'torchvision', 'pyyaml', 'huggingface-hub',
               'safetensors', 'requests', 'numpy', 'scipy', 'matplotlib',
               'opencv-python-headless', 'pandas', 'seaborn', 'rich', 'einops',
               'markdown', 'six', 'zipp', 'colorama', 'setuptools')
#: The same modules from another distribution here.
SAME_MODULES = {'opencv-python': 'opencv-python-headless'}
#: Runs the check, then prints the distributions of every module imported.
RUN = '''
import json, runpy, sys
sys.argv = {argv!r}
runpy.run_path(sys.argv[0], run_name='__main__')
from importlib.metadata import packages_distributions
names = packages_distributions()
print(json.dumps(sorted({{d for m in list(sys.modules)
                          for d in names.get(m.split('.')[0], ())}})))
'''


def requirement_closure(names):
    """``names`` and what they require, as far as installed here."""
    seen, todo = set(), list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(
                    {'extra': ''}):
                todo.append(requirement.name)
    return seen


def travelling():
    lines = (REPO / 'benchmarks' / 'gpu' / 'wheels.txt').read_text()
    return {
        canonicalize_name(Requirement(line).name)
        for line in lines.splitlines() if line and not line.startswith('#')
    }


def setuptools_vendored():
    """What setuptools carries in its ``_vendor`` (pkg_resources puts it on
    the path)."""
    vendor = Path(util.find_spec('setuptools').origin).parent / '_vendor'
    return {
        canonicalize_name(p.name.split('-')[0])
        for p in vendor.glob('*.dist-info')
    }


def table_rows(output):
    rows = [
        line.strip('|').split(' | ') for line in output.splitlines()
        if line.startswith('| ') and not line.startswith('| model')
    ]
    return [[cell.strip() for cell in row] for row in rows]


@pytest.mark.slow
def test_tiny_check_on_cpu_runs_every_row_from_travelling_wheels():
    argv = [str(SCRIPT), '--device', 'cpu', '--tiny', '--batches', '2']
    result = run([sys.executable, '-c', RUN.format(argv=argv)],
                 timeout=300 * LOAD_FACTOR, cwd=REPO)
    assert result.returncode == 0, result.output[-5000:]

    rows = table_rows(result.output)
    backbone = {(r[2], r[3]): r for r in rows if r[0] == 'tiny ViT'}
    assert sorted(backbone) == sorted(
        (p, cp) for p in ('fp32', 'bf16', 'fp16') for cp in ('no', 'yes'))
    tolerance = dict(fp32=1e-5, bf16=3e-2, fp16=5e-3)
    for (precision, with_cp), row in backbone.items():
        _, batch, _, _, train, infer, peak, kernels, out_err, grad_err = row
        assert batch == '2' and float(train) > 0 and float(infer) > 0
        assert peak == '-'  # CUDA memory only
        assert kernels and kernels != '-'
        assert 0 < float(out_err) < tolerance[precision], row
        assert 0 < float(grad_err) < tolerance[precision], row
        # Checkpointing recomputes the same numbers.
        assert row[8:] == backbone[(precision, 'no')][8:]

    detector = {r[2]: r for r in rows if r[0] == 'toy Mask R-CNN'}
    for precision in ('fp32', 'bf16'):
        assert float(detector[precision][4]) > 0, detector[precision]
        assert float(detector[precision][5]) > 0, detector[precision]
    # --amp on a CPU is bfloat16: fp16 needs a GPU, and says so.
    assert 'float16 autocast needs a GPU' in detector['fp16'][4]

    imported = {SAME_MODULES.get(canonicalize_name(d), canonicalize_name(d))
                for d in json.loads(result.output.splitlines()[-1])}
    provided = (requirement_closure(GPU_MACHINE) | travelling()
                | setuptools_vendored()
                | {'mmcv', 'mmdet-vit-transfer'})
    assert imported - provided == set()
