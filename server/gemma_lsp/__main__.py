from gemma_lsp.cli import main

raise SystemExit(main())
