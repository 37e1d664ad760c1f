"""Layer-wise learning-rate decay and the paper's weight-decay exemptions.

The paper fine-tunes with AdamW, no weight decay on norm layers, biases,
position embeddings and relative-position tables, and no layer-wise lr decay;
ViTDet later decays the lr of layer ``l`` by ``rate ** (num_layers - 1 - l)``
(0.7 for ViT-B with MAE). Layer ids come from the backbone's
``get_layer_depth(param_name, prefix='backbone.')``, so every backbone of this
package that defines it gets layer decay; parameters outside the backbone are
the top layer. Frozen parameters (``requires_grad=False``, e.g. a backbone's
``frozen_stages``) are in no group: no optimizer state, no weight decay.
"""
from typing import Callable, List, Optional, Tuple, Union

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm, _InstanceNorm
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS

from ...models.layers.position import RELATIVE_POSITION_PARAMETERS
from .lr_groups import format_lr_groups, lr_group_rows, model_layer_depth

#: Norm layers whose weights and biases get no weight decay (subclasses, such
#: as SyncBatchNorm or LayerNorm2d, included).
NORM_LAYERS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)


def is_weight_decay_exempt(param_name: str, module: nn.Module) -> bool:
    """Whether a parameter gets no weight decay in the paper's formula.

    Exempt: every parameter of a norm layer, every bias (``bias``, and
    BEiT's ``q_bias`` / ``v_bias``), position embeddings (``pos_embed``,
    ``absolute_pos_embed``) and relative-position tables.

    Args:
        param_name (str): full or local name of the parameter.
        module (nn.Module): the module that owns it directly.
    """
    leaf = param_name.rsplit('.', 1)[-1]
    return (isinstance(module, NORM_LAYERS) or leaf.endswith('bias')
            or leaf.endswith('pos_embed')
            or leaf in RELATIVE_POSITION_PARAMETERS)


def layer_decay_scale(layer_id: int, num_layers: int, rate: float) -> float:
    """lr multiplier of layer ``layer_id``: ``rate ** (num_layers - 1 -
    layer_id)``, so the top layer (heads) keeps the base lr."""
    return rate**(num_layers - 1 - layer_id)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer wrapper with layer-wise lr decay and weight-decay exemptions.

    Every rule of mmengine's :class:`DefaultOptimWrapperConstructor` still
    applies first (``custom_keys``, ``bias_lr_mult``, frozen parameters
    skipped...); their lr and weight decay are then multiplied by the layer
    scale and set to zero for exempt parameters (:func:`is_weight_decay_exempt`).
    Parameters that end up with the same settings share one group, and the
    groups are ordered from the top layer down: mmengine logs the lr of the
    first group, so the logged ``lr`` is the heads' lr. Frozen parameters
    are left out (modules whose parameters are all frozen without a warning
    per parameter), and the groups are logged once as a table
    (:func:`~.lr_groups.format_lr_groups`), the frozen parameters counted
    apart.

    ``paramwise_cfg`` accepts the default constructor's fields plus:

    - ``layer_decay_rate`` (float): 1.0 (the paper, no decay; the default)
      or e.g. 0.7 (ViTDet, ViT-B with MAE).

    Example:
        >>> optim_wrapper = dict(
        ...     type='AmpOptimWrapper',
        ...     constructor='LayerDecayOptimWrapperConstructor',
        ...     optimizer=dict(type='AdamW', lr=8e-5, betas=(0.9, 0.999),
        ...                    weight_decay=0.1),
        ...     paramwise_cfg=dict(layer_decay_rate=0.7))

    Args:
        optim_wrapper_cfg (dict): the optimizer wrapper config.
        paramwise_cfg (dict, optional): parameter-wise options, see above.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        # The default constructor skips add_params (and so every rule here)
        # when paramwise_cfg is empty: make the paper's default explicit.
        paramwise_cfg = dict(paramwise_cfg or {})
        paramwise_cfg.setdefault('layer_decay_rate', 1.0)
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def _validate_cfg(self) -> None:
        super()._validate_cfg()
        rate = self.paramwise_cfg.get('layer_decay_rate', 1.0)
        if not rate > 0:
            raise ValueError(
                f'layer_decay_rate must be positive, got {rate!r}')
        if rate != 1.0 and self.base_lr is None:
            raise ValueError('layer_decay_rate needs an explicit lr in the '
                             'optimizer config')

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[Union[int, float]] = None) -> None:
        """Add the parameters of ``module`` to ``params``, grouped.

        The default constructor calls this method recursively, with a
        prefix, for each submodule: those calls keep its per-parameter
        rules. The top-level call then decays, exempts and merges.

        Args:
            params (list[dict]): param groups, extended in place.
            module (nn.Module): the model (top-level call) or a submodule.
            prefix (str): name prefix of ``module``; empty for the model.
            is_dcn_module (int | float, optional): see the default
                constructor.
        """
        if prefix:
            if not any(p.requires_grad for p in module.parameters()):
                return  # frozen: in no group, counted apart in the table
            super().add_params(params, module, prefix, is_dcn_module)
            return
        per_param: List[dict] = []
        super().add_params(per_param, module, prefix, is_dcn_module)
        params.extend(self._merged_groups(module, per_param))

    def _layer_depth_fn(self,
                        model: nn.Module) -> Callable[[str], Tuple[int, int]]:
        """``param_name -> (layer_id, num_layers)`` from the backbone."""
        rate = self.paramwise_cfg.get('layer_decay_rate', 1.0)
        layer_depth = model_layer_depth(model)
        if layer_depth is not None:
            return layer_depth
        if rate != 1.0:
            backbone = getattr(model, 'backbone', None)
            raise ValueError(
                f'layer_decay_rate={rate} needs model.backbone.'
                f'get_layer_depth(param_name, prefix), but the backbone '
                f'{type(backbone).__name__} has none; use a backbone of '
                f'this package or layer_decay_rate=1.0')
        return lambda name: (0, 1)

    def _merged_groups(self, model: nn.Module,
                       per_param: List[dict]) -> List[dict]:
        """Apply layer decay and exemptions to one-parameter groups, then
        merge the groups with equal settings, top layer first."""
        rate = self.paramwise_cfg.get('layer_decay_rate', 1.0)
        layer_depth = self._layer_depth_fn(model)
        names = {id(p): n for n, p in model.named_parameters()}
        owners = {
            id(p): m
            for m in model.modules() for p in m.parameters(recurse=False)
        }

        entries = []
        for group in per_param:
            (param, ) = group['params']
            name = names[id(param)]
            layer_id, num_layers = layer_depth(name)
            settings = {k: v for k, v in group.items() if k != 'params'}
            lr = settings.get('lr', self.base_lr)
            custom_lr = lr != self.base_lr
            if lr is not None:
                settings['lr'] = lr * layer_decay_scale(
                    layer_id, num_layers, rate)
            exempt = is_weight_decay_exempt(name, owners[id(param)])
            if exempt:
                settings['weight_decay'] = 0.0
            # Top layer first, and within it the default-lr, decayed
            # parameters first: mmengine's RuntimeInfoHook logs
            # ``optimizer.param_groups[0]['lr']`` (OptimWrapper.get_lr()
            # lists the groups in order), so that is the heads' lr.
            order = (-layer_id, custom_lr, exempt)
            entries.append((order, name, param, settings))
        entries.sort(key=lambda entry: entry[0])  # stable: model order kept

        groups = {}
        for _, name, param, settings in entries:
            key = tuple(sorted((k, repr(v)) for k, v in settings.items()))
            if key not in groups:
                groups[key] = dict(params=[], param_names=[], **settings)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)

        merged = list(groups.values())
        print_log(
            'Parameter groups of the optimizer:\n' + format_lr_groups(
                lr_group_rows(model, merged,
                              dict(lr=self.base_lr,
                                   weight_decay=self.base_wd))),
            logger='current')
        return merged
