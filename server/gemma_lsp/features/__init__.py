"""Feature services: typed functions the LSP handlers and the command line both call (no LSP transport)."""
