"""`python -m edge.ledger verify --db PATH` / `python -m edge.ledger balances --db PATH`."""

import sys

from edge.ledger.commands import main

sys.exit(main())
