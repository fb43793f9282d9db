from mlsimcse.cli import main

raise SystemExit(main())
