"""The app the chaos tests load: three instances of one process publishing ``ledger``.

The ledger folder comes from ``$CHAOS_LEDGER``, read when the procfile is loaded (in the test
process). Restarts are quick and a crash loop far away: the tests kill instances on purpose.
"""

import os


def procfile(app):
    app.process("target").scale(3).restart(
        backoff=0.02, backoff_max=0.2, max_restarts=50, within=60
    )
    app.service("ledger", "ledger:Ledger").process("target").config(
        ledger=os.environ["CHAOS_LEDGER"]
    ).publish()
