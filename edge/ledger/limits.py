"""Every bound the ledger relies on, with the relations between them checked at import time.

Amounts are integers in the account's unit (ngwee for money, Wh for energy); nothing here is ever a float.
"""

from enerlectra.invariant import invariant

# One transfer may move at most 10^12 ngwee (10 billion ZMW) or 10^12 Wh (1 TWh): far above anything a cluster of
# households does in one interval, so a larger amount is a bug or an attack and is rejected as `amount_too_large`.
AMOUNT_MAX = 10**12

# Each of an account's four running totals (debits/credits, pending/posted) stays at or below this, so a total plus
# one more amount always fits SQLite's signed 64-bit INTEGER.
TOTAL_MAX = 2**62

# A batch is one SQLite transaction; the bound keeps a transaction's duration and memory in check.
BATCH_TRANSFERS_MAX = 10_000

# Text fields, in UTF-8 bytes. The canonical encoding prefixes each with a 2-byte length.
KEY_BYTES_MAX = 128
INTERVAL_ID_BYTES_MAX = 64
KIND_BYTES_MAX = 32
OWNER_BYTES_MAX = 64

# Host parameters per `IN (...)` lookup; SQLite allows 32,766 since 3.32, we stay far below.
LOOKUP_PARAMETERS_MAX = 500

# Rows fetched per round trip while `verify` streams the journal.
VERIFY_FETCH_ROWS = 4_096

invariant(0 < AMOUNT_MAX < TOTAL_MAX, "an amount must fit in a total")
invariant(TOTAL_MAX + AMOUNT_MAX < 2**63, "a total plus one amount must fit SQLite's signed 64-bit INTEGER")
invariant(
    max(KEY_BYTES_MAX, INTERVAL_ID_BYTES_MAX, KIND_BYTES_MAX, OWNER_BYTES_MAX) < 2**16,
    "text fields must fit the canonical encoding's 2-byte length prefix",
)
invariant(0 < LOOKUP_PARAMETERS_MAX <= 32_766, "lookups must stay under SQLite's host parameter limit")
invariant(BATCH_TRANSFERS_MAX * AMOUNT_MAX < TOTAL_MAX, "one batch can never overflow a total on its own")
