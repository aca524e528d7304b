"""Feature services: typed functions the LSP handlers and the command line both call (no pygls or
lsprotocol here)."""
