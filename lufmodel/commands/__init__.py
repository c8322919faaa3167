"""CLI subcommands. Each module has ``register(subparsers)``, which adds its parser and sets
``run=function(args) -> exit code``. Only this package (and ``lufmodel.cli``) prints or exits.
"""

from __future__ import annotations

COMMAND_MODULES = (
    "lufmodel.commands.verify",
    "lufmodel.commands.regress",
    "lufmodel.commands.show",
    "lufmodel.commands.replay",
    "lufmodel.commands.corpus",
    "lufmodel.commands.symbolic",
    "lufmodel.commands.fuzz",
    "lufmodel.commands.monitors",
)
