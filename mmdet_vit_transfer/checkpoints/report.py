"""What a checkpoint conversion and load did, key by key."""
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

_BLOCK_INDEX = re.compile(r'(blocks|layers|decoder_blocks)\.\d+\.')


def summarize_keys(keys: Iterable[str]) -> str:
    """Compact listing: ``blocks.3.mlp.fc1.weight`` for every block reads
    ``blocks.*.mlp.fc1.weight (x12)``."""
    counts = Counter(_BLOCK_INDEX.sub(r'\1.*.', key) for key in keys)
    return ', '.join(name if n == 1 else f'{name} (x{n})'
                     for name, n in counts.items())


@dataclass
class LoadReport:
    """Record of one conversion (and load) of a pre-trained checkpoint.

    Attributes:
        format (str): source format, one of ``FORMATS``.
        description (str): what was recognised, e.g. the detection clue.
        detected (bool): whether the format was detected (``fmt='auto'``).
        dropped (dict): reason -> checkpoint keys dropped on purpose.
        loaded (list): model keys that received checkpoint values.
        kept_at_init (dict): reason -> model keys left at init on purpose
            (e.g. BEiT's random absolute position embedding).
        missing (list): model keys the checkpoint did not provide (left at
            their init although nothing asked for it).
        resized (list): ``'key: old shape -> new shape (how)'`` lines.
        position (dict): ``'absolute'``/``'relative'`` -> how position
            information was initialised.
        notes (list): other choices made on the way.
        act_layer (str | None): the MLP activation the format's files were
            trained with, where the format records it.
        rope (str | None): the rotary positions of the format's models,
            where it has them.
    """
    format: str
    description: str = ''
    detected: bool = False
    act_layer: Optional[str] = None
    rope: Optional[str] = None
    dropped: Dict[str, List[str]] = field(default_factory=dict)
    loaded: List[str] = field(default_factory=list)
    kept_at_init: Dict[str, List[str]] = field(default_factory=dict)
    missing: List[str] = field(default_factory=list)
    resized: List[str] = field(default_factory=list)
    position: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    def drop(self, reason: str, *keys: str) -> None:
        """Record checkpoint ``keys`` dropped on purpose for ``reason``."""
        self.dropped.setdefault(reason, []).extend(keys)

    def keep_at_init(self, reason: str, *keys: str) -> None:
        """Record model ``keys`` deliberately left at their init."""
        self.kept_at_init.setdefault(reason, []).extend(keys)

    @property
    def dropped_keys(self) -> List[str]:
        """Every dropped checkpoint key, whatever the reason."""
        return [key for keys in self.dropped.values() for key in keys]

    def __str__(self) -> str:
        how = 'detected' if self.detected else 'given'
        lines = [f'Checkpoint format: {self.format} ({how}: '
                 f'{self.description})']
        if self.loaded:
            lines.append(f'Loaded {len(self.loaded)} tensors into the '
                         f'backbone.')
        sections = [
            ('Dropped on purpose', self.dropped),
            ('Left at init on purpose', self.kept_at_init),
        ]
        for title, groups in sections:
            if groups:
                lines.append(f'{title}:')
                lines += [f'  {reason}: {summarize_keys(keys)}'
                          for reason, keys in groups.items()]
        if self.position:
            lines.append('Position information:')
            lines += [f'  {kind}: {how}' for kind, how in
                      self.position.items()]
        if self.resized:
            lines.append('Resized:')
            lines += [f'  {line}' for line in self.resized]
        if self.notes:
            lines.append('Notes:')
            lines += [f'  {note}' for note in self.notes]
        if self.loaded or self.missing:
            missing = summarize_keys(self.missing) if self.missing else 'none'
            lines.append(f'Missing in the checkpoint (left at init): '
                         f'{missing}')
        return '\n'.join(lines)
