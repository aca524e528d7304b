"""Feature services: typed functions the LSP handlers call (no pygls or lsprotocol here)."""
