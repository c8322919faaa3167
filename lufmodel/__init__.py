"""lufmodel: a bounded model checker for Linux's Lazy Unmap Flush (LUF).

One model of the kernel paths (``lufmodel.kernel``) written against the operations
interface of ``lufmodel.ops``; many engines run it (explicit search, replay, and the
backends in ``lufmodel.backends``).
"""

from __future__ import annotations

__version__ = "0.1.0"
