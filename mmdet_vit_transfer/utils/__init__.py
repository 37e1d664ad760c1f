from .checkpoint_files import (CheckpointFileError, check_checkpoint_file,
                               is_complete_checkpoint,
                               mmengine_checkpoint_globals)
from .cpu import has_native_bfloat16
from .errors import USER_ERRORS, UserInputError, user_errors_exit
from .run_results import (coco_metrics_table, last_coco_metrics,
                          plot_training_curves, training_curves)

__all__ = [
    'CheckpointFileError', 'USER_ERRORS', 'UserInputError',
    'check_checkpoint_file', 'coco_metrics_table', 'has_native_bfloat16',
    'is_complete_checkpoint', 'last_coco_metrics',
    'mmengine_checkpoint_globals', 'plot_training_curves', 'training_curves',
    'user_errors_exit'
]
