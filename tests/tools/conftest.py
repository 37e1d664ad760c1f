import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


@pytest.fixture
def load_tool():
    """Loads a command-line script of the repository as a module, to call
    its ``main(argv)``."""

    def load(relative_path):
        path = REPO / relative_path
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope='session')
def toy_benchmark_dir(tmp_path_factory):
    """The miniature benchmark at its small scale, run once per test run in
    its own process, as a user runs it: real toy runs of every arm."""
    out = tmp_path_factory.mktemp('toy_benchmark')
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'toy_benchmark.py'),
         '--scale', 'small', '--out-dir', str(out)],
        capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (out / 'stdout.txt').write_text(proc.stdout)
    return out
