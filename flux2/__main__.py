"""``python -m flux2``: the ``flux2`` command."""

from flux2.cli import main

raise SystemExit(main())
