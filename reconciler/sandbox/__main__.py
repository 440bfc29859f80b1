from reconciler.sandbox.server import main

raise SystemExit(main())
