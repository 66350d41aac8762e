"""`python -m executor` is the same program as the `stage-executor` script."""

from executor.entry import main

main()
