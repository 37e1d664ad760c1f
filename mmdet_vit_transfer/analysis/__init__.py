"""Reports of the benchmark, one module each: the results table and
convergence figure (:mod:`.benchmark_table`, from the runs read by
:mod:`.runs`), TIDE error analysis (:mod:`.error_analysis`), model complexity
(:mod:`.complexity`), attention-layout cost (:mod:`.attention_cost`), drawn
predictions (:mod:`.inference`) and the miniature benchmark on the toy set
(:mod:`.toy_benchmark`). Only the first two are imported here; the others
pull in heavier dependencies (tidecv, mmdet's inferencer, the runner)."""
from .benchmark_table import BenchmarkSummary, summarize_benchmark
from .runs import BenchmarkRun, find_run_dirs, parse_run_name, read_run

__all__ = [
    'BenchmarkRun', 'BenchmarkSummary', 'find_run_dirs', 'parse_run_name',
    'read_run', 'summarize_benchmark'
]
