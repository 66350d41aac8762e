"""`python -m executor` is the same program as the `stage-executor` script."""

from executor.cli import main

raise SystemExit(main())
