"""``python -m sitewatch`` is the ``sitewatch`` command."""

from sitewatch.cli import main

raise SystemExit(main())
