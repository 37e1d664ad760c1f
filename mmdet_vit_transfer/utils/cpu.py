"""What this CPU can do."""
import functools

import torch


@functools.lru_cache(maxsize=None)
def has_native_bfloat16() -> bool:
    """Whether oneDNN has bfloat16 matrix kernels for this CPU (AVX-512 or
    AMX); without them a bfloat16 matrix product runs about 100x slower
    than a float32 one."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
