from .flush_denormal import FlushDenormalHook

__all__ = ['FlushDenormalHook']
