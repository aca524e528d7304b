"""Tools the model may call: the declarative catalog, the built-ins and the executor."""

from gemma_lsp.toolbox.base import DEFAULT_DENY, ToolResult, ToolSettings
from gemma_lsp.toolbox.catalog import CatalogError, ToolCatalog, ToolDef
from gemma_lsp.toolbox.executor import ToolExecutor, describe_call, validate_arguments

__all__ = [
    "DEFAULT_DENY",
    "CatalogError",
    "ToolCatalog",
    "ToolDef",
    "ToolExecutor",
    "ToolResult",
    "ToolSettings",
    "describe_call",
    "validate_arguments",
]
