"""``python -m pysrsd`` runs the daemon."""

from pysrsd.cli import main

raise SystemExit(main())
