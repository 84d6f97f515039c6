"""benchbridge: the layer-transfer study of Yosinski et al. (NIPS 2014) as a plugin-based benchmark."""

from benchbridge.errors import UserError
from benchbridge.hookspecs import hookimpl
from benchbridge.models import create_model, list_models

__version__ = "0.1.0"
__all__ = ["UserError", "__version__", "create_model", "hookimpl", "list_models"]
