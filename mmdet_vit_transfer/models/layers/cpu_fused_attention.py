"""The ``'cpu_fused'`` attention backend: attention with a learnable
additive bias, fused on the CPU.

``F.scaled_dot_product_attention`` falls back to its unfused "math" path
whenever ``attn_mask`` requires grad, which a learnable relative-position
bias always does: every block then stores its full ``(B, heads, N, N)``
probabilities for the backward pass (800 MB per global block of ViT-B at
1024 px) and runs several extra passes over them. :class:`CPUFusedKernel`
keeps the fused CPU kernel for the forward pass and stores only its output
and row log-sum-exp; the backward pass recomputes the probabilities a few
heads at a time, as flash attention does, and also returns the gradient of
the bias, computed in place in its output when the bias is not broadcast
(a per-image bias). A bias without grad goes to
``F.scaled_dot_product_attention`` itself. The backbones pick this backend
for CPU tensors in float32 or bfloat16 (``attn_backend='auto'``);
``'sdpa'`` is the generic path for every device and dtype.

A bias too large to hold whole (the global blocks' 805 MB at 1024 px)
comes as an :class:`OffsetGridBias`, the small grid that a shared relative
table makes it from: the forward pass attends a block of query rows at a
time, each block's bias rows made into one reused buffer; the backward pass
makes each head's rows again, the log-sum-exp subtracted as they are
written, and adds their gradient straight into the grid's. The row copies
that make those bias rows (and a small bias whole) live here too.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F

from ...utils.cpu import has_native_bfloat16
from .attention import ATTENTION_LAYERS, Attention

#: Elements of one block of recomputed scores or of bias rows (64 MB in
#: float32); a larger bias is kept as its offset grid.
BLOCK_ELEMENTS = 2**24
#: Queries per call of the flash kernel when attending an
#: :class:`OffsetGridBias`: it ran calls of 320 queries 20% slower than of
#: 1024 or more (ViT-B, 4096 keys; 201 MB of bias rows then).
MIN_QUERIES_PER_CALL = 1024

_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
#: Dtypes of the queries the kernel takes (with a float32 bias).
DTYPES = (torch.float32, torch.bfloat16)


def supports(x: torch.Tensor) -> bool:
    """Whether attention over tensors like ``x`` (a CPU tensor in a dtype
    of ``DTYPES``, or the CPU autocast dtype) runs on this backend."""
    if x.device.type != 'cpu':
        return False
    dtype = (torch.get_autocast_dtype('cpu')
             if torch.is_autocast_enabled('cpu') else x.dtype)
    return dtype in DTYPES


def offset_grid_windows(grid: torch.Tensor) -> torch.Tensor:
    """The windows of an offset grid that its bias rows are copied from.

    ``windows[h, a, x, x'] = grid[h, 2H - 2 - a, W - 1 + x - x']``: the
    bias row of query ``(y, x)`` is ``windows[:, H - 1 - y:2H - 1 - y, x]``
    (see :func:`windows_bias_rows`). Made once, it serves every block of
    rows; :func:`offset_grid_grad` is its adjoint.

    Args:
        grid (Tensor): ``(num_heads, 2H - 1, 2W - 1)``.

    Returns:
        Tensor: ``(num_heads, 2H - 1, W, W)``, contiguous.
    """
    W = (grid.shape[2] + 1) // 2
    # flipped[h, a, c] is the bias for (y' - y, x' - x) = (a - H + 1,
    # c - W + 1); windows[h, a, x, x'] = flipped[h, a, x' - x + W - 1].
    return grid.flip(1, 2).unfold(2, W, 1).flip(2).contiguous()


def windows_bias_rows(windows: torch.Tensor,
                      rows: Tuple[int, int],
                      out: Optional[torch.Tensor] = None,
                      minus: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Query rows ``rows = (y0, y1)`` of the bias of an offset grid, from
    its :func:`offset_grid_windows`.

    ``bias[h, (y, x), (y', x')] = grid[h, y - y' + H - 1, x - x' + W - 1]``
    for ``y0 <= y < y1``, copied into a contiguous result (no index
    tensor). Autograd would record every row copy: :func:`add_bias_rows_grad`
    is the adjoint, and :func:`whole_grid_bias` the differentiable whole
    bias.

    Args:
        windows (Tensor): ``(num_heads, 2H - 1, W, W)``.
        rows (tuple): first and past-the-last grid row ``y`` of the queries.
        out (Tensor, optional): contiguous tensor to write into (a buffer
            reused from call to call), of at least as many elements as the
            result.
        minus (Tensor, optional): ``(B, num_heads, (y1 - y0) * W)``,
            subtracted from each query's row as it is written (the rows of
            ``B`` images then).

    Returns:
        Tensor: ``(num_heads, (y1 - y0) * W, H * W)``, contiguous; with
        ``minus``, ``(B, num_heads, (y1 - y0) * W, H * W)``.
    """
    heads, H = windows.shape[0], (windows.shape[1] + 1) // 2
    W = windows.shape[2]
    y0, y1 = rows
    lead = (heads, ) if minus is None else tuple(minus.shape[:2])
    shape = lead + (y1 - y0, W, H, W)
    if out is not None and out.numel() < math.prod(shape):
        raise ValueError(f'rows {tuple(shape)} do not fit in a buffer of '
                         f'{out.numel()} elements')
    bias = (windows.new_empty(shape) if out is None else
            out.view(-1)[:math.prod(shape)].view(shape))
    if minus is not None:
        minus = minus.reshape(lead + (y1 - y0, W, 1, 1))
    for y in range(y0, y1):
        # (heads, y', x, x') -> (heads, x, y', x')
        row = windows[:, H - 1 - y:2 * H - 1 - y].transpose(1, 2)
        if minus is None:
            bias[:, y - y0] = row
        else:
            torch.sub(row, minus[:, :, y - y0], out=bias[:, :, y - y0])
    return bias.view(lead + ((y1 - y0) * W, H * W))


def add_bias_rows_grad(grad_windows: torch.Tensor, grad: torch.Tensor,
                       rows: Tuple[int, int]) -> None:
    """Add the gradient of bias rows ``rows = (y0, y1)``, as made by
    :func:`windows_bias_rows`, into the windows' gradient ``grad_windows``.

    Args:
        grad_windows (Tensor): ``(num_heads, 2H - 1, W, W)`` accumulator;
            :func:`offset_grid_grad` turns it into the grid's gradient.
        grad (Tensor): ``(num_heads, (y1 - y0) * W, H * W)``.
        rows (tuple): the grid rows of the queries.
    """
    heads, _, W, _ = grad_windows.shape
    H = (grad_windows.shape[1] + 1) // 2
    y0, y1 = rows
    grad = grad.reshape(heads, y1 - y0, W, H, W)
    for y in range(y0, y1):
        grad_windows[:, H - 1 - y:2 * H - 1 - y].transpose(1, 2).add_(
            grad[:, y - y0])


def offset_grid_grad(grad_windows: torch.Tensor) -> torch.Tensor:
    """The offset grid's gradient ``(num_heads, 2H - 1, 2W - 1)`` from its
    windows' gradient (the adjoint of :func:`offset_grid_windows`)."""
    heads, rows, W, _ = grad_windows.shape
    grad_flipped = grad_windows.new_zeros(heads, rows, 2 * W - 1)
    for x in range(W):
        grad_flipped[..., W - 1 - x:2 * W - 1 - x].add_(grad_windows[:, :,
                                                                     x])
    return grad_flipped.flip(1, 2)


class _OffsetGridToBias(torch.autograd.Function):
    """``bias[h, (y, x), (y', x')] = grid[h, y - y' + H - 1, x - x' + W - 1]``.

    A gather through an ``(N, N)`` index needs an index tensor of ``N^2``
    entries (134 MB at N = 4096), leaves a strided result that the fused
    attention kernel reads slowly, and is a scatter-add in the backward
    pass. Every query row of the bias is a window of the flipped offset
    grid, so the forward pass copies windows into a contiguous result and
    the backward pass adds them back, one row of queries at a time.
    """

    @staticmethod
    def forward(ctx, grid):
        H, W = (grid.shape[1] + 1) // 2, (grid.shape[2] + 1) // 2
        ctx.hw = H, W
        return windows_bias_rows(offset_grid_windows(grid), (0, H))

    @staticmethod
    def backward(ctx, grad):
        H, W = ctx.hw
        grad_windows = grad.new_zeros(grad.shape[0], 2 * H - 1, W, W)
        add_bias_rows_grad(grad_windows, grad, (0, H))
        return offset_grid_grad(grad_windows)


def whole_grid_bias(grid: torch.Tensor) -> torch.Tensor:
    """The whole bias ``(num_heads, H * W, H * W)`` of an offset grid
    ``(num_heads, 2H - 1, 2W - 1)``, contiguous and differentiable: what
    :func:`~.vit_geometry.offset_grid_bias` gives, by row copies (fast on
    the CPU)."""
    return _OffsetGridToBias.apply(grid)




def _reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum ``grad`` over the dimensions that were broadcast from ``shape``."""
    dims = [
        d for d, (g, s) in enumerate(zip(grad.shape, shape))
        if s == 1 and g != 1
    ]
    return grad.sum(dims, keepdim=True) if dims else grad


def _block_backward(probs, q_b, k_b, v_b, do_b, delta_b, grad_probs,
                    low=None):
    """Attention backward for one block of ``n`` (query x key) matrices,
    all float32 and 3-d: ``probs`` holds ``bias - lse`` and is overwritten
    with the scores' gradient; ``q_b`` is scaled; ``grad_probs`` is a buffer
    shaped like ``probs``. Returns the gradients of ``q_b``, ``k_b`` and
    ``v_b``.

    ``low``, for bfloat16 inputs: ``(q_b, k_b, do_b)`` in bfloat16 and a
    bfloat16 buffer shaped like ``probs``. The three products with the
    probabilities and their gradient then run in bfloat16 (accumulating in
    float32, as flash attention does); the scores and ``dP``, which the
    softmax's gradient subtracts from each other, stay float32.
    """
    # P = exp(q k^T * scale + bias - lse)
    probs.baddbmm_(q_b, k_b.transpose(1, 2)).exp_()
    if low is not None:
        q_b, k_b, do_low, low_probs = low
        grad_v = torch.bmm(low_probs.copy_(probs).transpose(1, 2), do_low)
    else:
        grad_v = torch.bmm(probs.transpose(1, 2), do_b)
    # dS = P * (dP - D), in place over the probabilities.
    torch.bmm(do_b, v_b.transpose(1, 2), out=grad_probs)
    grad_scores = probs.mul_(grad_probs.sub_(delta_b))
    if low is not None:
        grad_scores = low_probs.copy_(grad_scores)
    return (torch.bmm(grad_scores, k_b),
            torch.bmm(grad_scores.transpose(1, 2), q_b), grad_v)


def _attention_backward(saved, grad_out, scale, start_scores, take_scores,
                        knobs):
    """The backward pass of biased attention, by blocks of whole (query x
    key) matrices: some heads of one image, or all heads of some images.

    Args:
        saved (tuple): ``q, k, v, out, lse`` of the forward pass.
        grad_out (Tensor): gradient of ``out``.
        scale (float): the scores' scale.
        start_scores (callable): ``start_scores(block, buffer)`` returns the
            block's ``(images, heads, N, N)`` float32 scores holding ``bias
            - lse``, written into ``buffer`` (a flat float32 tensor of the
            block's size) or elsewhere; ``block`` is a ``(slice, slice)``
            of images and heads.
        take_scores (callable): ``take_scores(block, grad_scores)`` takes
            the block's scores' gradient (the bias's), in the same tensor.
        knobs (CPUFusedKernel): block size and bfloat16 products.

    Returns:
        tuple: the gradients of ``q``, ``k`` and ``v``.
    """
    q, k, v, out, lse = saved
    batch, heads, q_len = q.shape[:3]
    k_len = k.shape[2]
    delta = _delta(grad_out, out)
    grad_q, grad_k, grad_v = (torch.empty_like(t) for t in (q, k, v))
    matrix = q_len * k_len
    head_step = min(heads, max(1, knobs.block_elements // matrix))
    batch_step = (max(1, knobs.block_elements // (matrix * heads))
                  if head_step == heads else 1)
    # Reused from block to block: fresh 64 MB blocks cost page faults.
    size = batch_step * head_step * matrix
    buffers = torch.empty((2, size))
    low = q.dtype == torch.bfloat16 and knobs.native_bfloat16
    low_buffer = torch.empty(size, dtype=torch.bfloat16) if low else None
    for b in range(0, batch, batch_step):
        for h in range(0, heads, head_step):
            blk = (slice(b, b + batch_step), slice(h, h + head_step))
            scores = start_scores(blk, buffers[0])
            n = scores.shape[0] * scores.shape[1]
            q_b, k_b, v_b, do_b = (t[blk].float().flatten(0, 1)
                                   for t in (q, k, v, grad_out))
            q_b = q_b * scale
            lows = None
            if low:
                lows = (q_b.bfloat16(), k[blk].flatten(0, 1),
                        grad_out[blk].flatten(0, 1),
                        low_buffer[:n * matrix].view(n, q_len, k_len))
            grads = _block_backward(scores.view(n, q_len, k_len), q_b, k_b,
                                    v_b, do_b, delta[blk].flatten(0, 1),
                                    buffers[1, :n * matrix].view(
                                        n, q_len, k_len), lows)
            take_scores(blk, scores)
            grad_q[blk] = (grads[0] * scale).view_as(grad_q[blk])
            grad_k[blk] = grads[1].view_as(grad_k[blk])
            grad_v[blk] = grads[2].view_as(grad_v[blk])
    return grad_q, grad_k, grad_v


def _delta(grad_out, out):
    """``D_i = sum_j P_ij dP_ij = <dO_i, O_i>``, ``(B, heads, N, 1)``."""
    return (grad_out.float() * out.float()).sum(-1, keepdim=True)


class _BiasedAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, k, v, bias, scale, knobs):
        out, lse = _flash(q, k, v, attn_mask=bias, scale=scale)
        ctx.scale, ctx.knobs = scale, knobs
        ctx.save_for_backward(q, k, v, bias, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, bias, out, lse = ctx.saved_tensors
        # Unless the bias is broadcast, the scores are computed in place in
        # its gradient.
        in_place = (tuple(bias.shape[:2]) == tuple(q.shape[:2])
                    and bias.dtype == torch.float32)
        grad_bias = (torch.empty if in_place else torch.zeros)(
            bias.shape, dtype=torch.float32)

        def bias_block(blk):
            return tuple(s if n > 1 else slice(None)
                         for s, n in zip(blk, bias.shape))

        def start_scores(blk, buffer):
            shape = q[blk].shape[:2] + (q.shape[2], k.shape[2])
            scores = (grad_bias[blk] if in_place else
                      buffer[:math.prod(shape)].view(shape))
            return torch.sub(bias[bias_block(blk)], lse[blk].unsqueeze(-1),
                             out=scores)

        def take_scores(blk, grad_scores):
            if not in_place:
                grad_bias[bias_block(blk)] += _reduce_to(
                    grad_scores, bias.shape)

        grads = _attention_backward((q, k, v, out, lse), grad_out,
                                    ctx.scale, start_scores, take_scores,
                                    ctx.knobs)
        return (*grads, grad_bias.to(bias.dtype), None, None)


class OffsetGridBias:
    """The additive bias ``(1, heads, H*W, H*W)`` of an offset grid,
    ``bias[h, (y, x), (y', x')] = grid[h, y - y' + H - 1, x - x' + W - 1]``
    (shared relative-position tables), kept as its grid.

    Attention makes it a block of query rows at a time in the forward pass
    and a block of heads at a time in the backward pass, and returns the
    gradient of the grid itself: neither the bias nor its gradient (805 MB
    each for ViT-B's global blocks at 1024 px) is ever whole.

    Args:
        grid (Tensor): ``(heads, 2H - 1, 2W - 1)``, float32; may require
            grad.
    """

    def __init__(self, grid: torch.Tensor):
        if grid.dim() != 3 or grid.shape[1] % 2 == 0 or grid.shape[2] % 2 == 0:
            raise ValueError('an offset grid is (heads, 2H - 1, 2W - 1), got '
                             f'{tuple(grid.shape)}')
        self.grid = grid

    @property
    def hw(self) -> Tuple[int, int]:
        return (self.grid.shape[1] + 1) // 2, (self.grid.shape[2] + 1) // 2


def _rows_per_call(hw, matrices, knobs):
    """Grid rows of queries per call of the flash kernel: ``matrices``
    (images x heads) rows of all keys in ``block_elements``, or
    ``min_queries_per_call`` queries."""
    H, W = hw
    return min(H, max(1, knobs.block_elements // (matrices * W * H * W),
                      -(-knobs.min_queries_per_call // W)))


class _GridBiasedAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, k, v, grid, scale, knobs):
        bias = OffsetGridBias(grid)
        (H, W), (batch, heads) = bias.hw, q.shape[:2]
        step = _rows_per_call(bias.hw, batch * heads, knobs)
        out = torch.empty_like(q)
        lse = q.new_empty(q.shape[:3], dtype=torch.float32)
        windows = offset_grid_windows(grid)
        # One buffer for every block's bias rows: fresh ones page-fault.
        buffer = torch.empty(heads * step * W * H * W, dtype=grid.dtype)
        for y0 in range(0, H, step):
            y1 = min(y0 + step, H)
            rows = windows_bias_rows(windows, (y0, y1), buffer)
            s = slice(y0 * W, y1 * W)
            out[:, :, s], lse[:, :, s] = _flash(
                q[:, :, s], k, v, attn_mask=rows.unsqueeze(0), scale=scale)
        ctx.scale, ctx.knobs = scale, knobs
        ctx.save_for_backward(q, k, v, grid, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, grid, out, lse = ctx.saved_tensors
        H, W = OffsetGridBias(grid).hw
        windows = offset_grid_windows(grid)
        grad_windows = torch.zeros((grid.shape[0], 2 * H - 1, W, W))

        def start_scores(blk, buffer):
            # bias - lse, written with the bias rows
            return windows_bias_rows(windows[blk[1]], (0, H), buffer,
                                     minus=lse[blk])

        def take_scores(blk, grad_scores):
            if ctx.needs_input_grad[3]:
                add_bias_rows_grad(
                    grad_windows[blk[1]], grad_scores[0] if
                    grad_scores.shape[0] == 1 else grad_scores.sum(0),
                    (0, H))

        grads = _attention_backward((q, k, v, out, lse), grad_out,
                                    ctx.scale, start_scores, take_scores,
                                    ctx.knobs)
        return (*grads, offset_grid_grad(grad_windows).to(grid.dtype), None,
                None)


class CPUFusedKernel:
    """The fused CPU kernel: :meth:`table_bias` makes a relative table's
    bias (once per forward), calling the object attends.

    Args:
        block_elements (int): elements of one block of recomputed scores or
            of bias rows; a table bias of more elements is kept as its
            offset grid.
        min_queries_per_call (int): queries per call of the flash kernel
            when attending an :class:`OffsetGridBias`.
        native_bfloat16 (bool | None): with bfloat16 inputs, run the
            backward pass's products with the probabilities and their
            gradient in bfloat16; None: when the CPU has native bfloat16
            matrix kernels.
    """

    def __init__(self,
                 block_elements: int = BLOCK_ELEMENTS,
                 min_queries_per_call: int = MIN_QUERIES_PER_CALL,
                 native_bfloat16: Optional[bool] = None):
        self.block_elements = block_elements
        self.min_queries_per_call = min_queries_per_call
        self.native_bfloat16 = (has_native_bfloat16() if native_bfloat16
                                is None else native_bfloat16)

    def table_bias(self, grid: torch.Tensor
                   ) -> Union[torch.Tensor, OffsetGridBias]:
        """The attention bias of an offset grid ``(heads, 2H - 1, 2W - 1)``:
        whole, ``(1, heads, H*W, H*W)`` in the grid's dtype, when it has at
        most ``block_elements`` elements or is not float32, else an
        :class:`OffsetGridBias`."""
        bias = OffsetGridBias(grid)
        n = math.prod(bias.hw)
        if (grid.shape[0] * n * n <= self.block_elements
                or grid.dtype != torch.float32):
            return whole_grid_bias(grid).unsqueeze(0)
        return bias

    def __call__(self,
                 q: torch.Tensor,
                 k: torch.Tensor,
                 v: torch.Tensor,
                 bias: Union[torch.Tensor, OffsetGridBias, None],
                 scale: Optional[float] = None) -> torch.Tensor:
        """``softmax(q @ k^T * scale + bias) @ v``.

        Args:
            q, k, v (Tensor): ``(B, heads, N, head_dims)`` on the CPU, in a
                dtype of ``DTYPES``.
            bias (Tensor | OffsetGridBias | None): additive bias of shape
                ``(B | 1, heads | 1, N, N)``; may require grad. A float32
                bias with bfloat16 q, k, v is taken as it is (no copy, and
                its gradient computed in place in float32).
            scale (float, optional): defaults to ``head_dims ** -0.5``.

        Returns:
            Tensor: ``(B, heads, N, head_dims)``.
        """
        if q.device.type != 'cpu' or q.dtype not in DTYPES:
            raise ValueError(f"attn_backend='cpu_fused' takes CPU tensors "
                             f'in {DTYPES}, got {q.dtype} on {q.device}: '
                             f"use 'sdpa' (or 'auto')")
        scale = q.shape[-1]**-0.5 if scale is None else scale
        if isinstance(bias, OffsetGridBias):
            if math.prod(bias.hw) != q.shape[2]:
                raise ValueError(f'the bias is for a {bias.hw} grid of '
                                 f'{math.prod(bias.hw)} tokens, the queries '
                                 f'have {q.shape[2]}')
            return _GridBiasedAttention.apply(q, k, v, bias.grid, scale,
                                              self)
        fused = (bias is not None and bias.requires_grad
                 and torch.is_grad_enabled() and bias.dim() == 4
                 and bias.dtype in (torch.float32, q.dtype))
        if not fused:
            if bias is not None and bias.is_floating_point():
                bias = bias.to(q.dtype)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                                  scale=scale)
        return _BiasedAttention.apply(q, k, v, bias, scale, self)


class CPUFusedAttention(Attention):
    """:class:`~.attention.Attention` with the fused CPU kernel
    (``attn_backend='cpu_fused'``, and ``'auto'``).

    Args:
        *args, **kwargs: those of :class:`~.attention.Attention`.
        block_elements (int), min_queries_per_call (int),
        native_bfloat16 (bool | None): the kernel's knobs (see
            :class:`CPUFusedKernel`).
        strict (bool): fail on inputs the kernel does not take (other
            devices and dtypes) instead of attending with SDPA
            (``attn_backend='auto'`` is not strict).
    """

    def __init__(self,
                 *args,
                 block_elements: int = BLOCK_ELEMENTS,
                 min_queries_per_call: int = MIN_QUERIES_PER_CALL,
                 native_bfloat16: Optional[bool] = None,
                 strict: bool = True,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.kernel = CPUFusedKernel(block_elements, min_queries_per_call,
                                     native_bfloat16)
        self.strict = strict

    def _runs_on(self, x: torch.Tensor) -> bool:
        if supports(x):
            return True
        if self.strict:
            raise ValueError(f"attn_backend='cpu_fused' runs on CPU tensors "
                             f'in float32 or bfloat16, got {x.dtype} on '
                             f"{x.device}: use 'sdpa' or 'auto'")
        return False

    def attend(self, q, k, v, attn_mask):
        if self._runs_on(q):
            return self.kernel(q, k, v, attn_mask)
        return super().attend(q, k, v, attn_mask)

    def table_bias(self, grid, like):
        """Whole, or kept as its offset grid when large (see
        :meth:`CPUFusedKernel.table_bias`); SDPA's where the kernel does not
        run."""
        if self._runs_on(like):
            return self.kernel.table_bias(grid)
        return super().table_bias(grid, like)


ATTENTION_LAYERS['cpu_fused'] = CPUFusedAttention
