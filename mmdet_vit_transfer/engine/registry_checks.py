"""Which ``type`` of a config names nothing registered, and what it was
probably meant to be."""
import difflib
from typing import Any, List

from mmdet.registry import MODELS, TASK_UTILS, WEIGHT_INITIALIZERS

#: Where the ``type`` of a model config's parts are looked up: modules
#: (backbones, necks, heads, losses, layers), their helpers (assigners,
#: samplers, coders) and weight initialisers (``init_cfg``).
REGISTRIES = (MODELS, TASK_UTILS, WEIGHT_INITIALIZERS)


def _registered(name: str) -> bool:
    return any(registry.get(name) is not None for registry in REGISTRIES)


def _names() -> List[str]:
    names = set()
    for registry in REGISTRIES:
        while registry is not None:
            names.update(registry.module_dict)
            registry = registry.parent
    return sorted(names)


def unregistered_types(cfg: Any, key: str) -> List[str]:
    """One message per ``type`` below ``cfg`` (at config key ``key``) that
    no registry knows, with the closest registered names."""
    found = []
    if isinstance(cfg, dict):
        kind = cfg.get('type')
        if isinstance(kind, str) and not _registered(kind):
            by_lower = {name.lower(): name for name in _names()}
            close = [by_lower[name] for name in difflib.get_close_matches(
                kind.lower(), list(by_lower), n=3, cutoff=0.6)]
            hint = (f'; did you mean {" or ".join(map(repr, close))}?'
                    if close else '')
            found.append(f'{key}.type = {kind!r} is not a registered type'
                         f'{hint}')
        for name, value in cfg.items():
            found += unregistered_types(value, f'{key}.{name}')
    elif isinstance(cfg, (list, tuple)):
        for index, value in enumerate(cfg):
            found += unregistered_types(value, f'{key}.{index}')
    return found
