from jes_runner.cli import main

raise SystemExit(main())
