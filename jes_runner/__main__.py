from jes_runner.cli.main import main

raise SystemExit(main())
