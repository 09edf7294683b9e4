"""``python -m pysrsd.ctl`` → ``pysrsctl``."""

from pysrsd.ctl import main

raise SystemExit(main())
