"""Feature services: typed functions the LSP layer and the CLI call (no pygls or lsprotocol here)."""
