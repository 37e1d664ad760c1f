import importlib.util
import sys
from pathlib import Path

import pytest
from subprocess_runs import LOAD_FACTOR, run

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
    result = run(
        [sys.executable, str(REPO / 'tools' / 'toy_benchmark.py'),
         '--scale', 'small', '--out-dir', str(out)],
        timeout=1200 * LOAD_FACTOR)
    assert result.returncode == 0, result.output[-5000:]
    (out / 'stdout.txt').write_text(result.output)
    return out
