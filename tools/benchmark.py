"""Run the paper's benchmark, or any slice or list of configs, as one
command; run it again to continue it.

    python tools/benchmark.py launch WORK_DIR [--inits mae,beit] [--sizes b]
        [--schedules 25e,50e] [--protocols full,frozen]
        [--detectors mask_rcnn,cascade,faster_rcnn] [--seeds 0,1,2]
        [--configs CONFIG...] [--backend local|slurm]
        [--partition P --nodes N --gpus-per-node G --time 3-00:00:00
         --sbatch-args="--account=det"] [--cfg-options KEY=VALUE...]
    python tools/benchmark.py status WORK_DIR
    python tools/benchmark.py summary WORK_DIR

`launch` skips finished runs, resumes interrupted ones, retries failed ones
(each at most --max-failures times, never after failing the same way
twice), then writes the table, the AP-against-epochs figure and the TIDE
errors to WORK_DIR/summary. Without --inits/--sizes/--schedules/--configs
it runs the whole grid. --protocols and --detectors add the frozen
backbone (configs/frozen/) and Cascade Mask R-CNN or Faster R-CNN
(configs/cascade/, configs/faster/) where there are configs; --seeds runs
each run once per seed (RUN_seedS, randomness.seed=S) and the table shows
mean +- std over seeds. A config X_stage2.py beside X_stage1.py runs direct
pre-training: stage 1, hand-off, stage 2.
"""
import sys

from mmdet_vit_transfer.benchmark.cli import main

if __name__ == '__main__':
    sys.exit(main(usage=__doc__))
