"""An engine process for the kill-mid-call test (``tests/telephony/test_orphans.py``).

``python tests/telephony/engine_process.py ARI_URL USER PASSWORD APP`` connects a
:class:`Telephony` to that ARI server and puts up every kind of call it makes: a caller's
conference, a lead bridged into it then moved into a warm transfer with a third party, a
supervisor listening to the caller through a snoop channel, and a second lead still
ringing. Then it prints one JSON line (``{"channels": {id: role}, "bridges": [id]}``)
and waits to be killed.
"""
from __future__ import annotations

import asyncio
import json
import sys

from realtime.telephony import Conference, Supervision, Telephony, dial_lead
from realtime.telephony.ari import AriClient
from realtime.telephony.transfer import Transfer


async def main(url: str, user: str, password: str, app: str) -> None:
    client = AriClient(url, user, password, app)
    await client.connect()
    telephony = Telephony(client, dial_template="PJSIP/{number}@trunk")
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await asyncio.wait_for(lead.answered, 10)
    await lead.connect_to(conference)
    transfer = await Transfer.start(telephony, conference, lead, "+15555550102", "warm", transfer_id="t1")
    await asyncio.wait_for(transfer.connected, 10)
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor7", "listen", supervisor_id="u7")
    ringing = await dial_lead(telephony, call_id="c2", campaign_id="camp-7", number="+15555550185",
                              ring_timeout=3600)  # a far end that rings and never answers
    await asyncio.wait_for(ringing.ringing, 10)
    assert transfer.party is not None and supervision.snoop_id is not None
    made = {
        "channels": {conference.caller.id: "caller", lead.id: "lead", transfer.party.id: "transfer",
                     supervision.leg.id: "supervisor", supervision.snoop_id: "snoop", ringing.id: "lead"},
        "bridges": [conference.bridge_id, transfer.bridge_id, supervision.bridge_id],
    }
    print(json.dumps(made), flush=True)
    await asyncio.Event().wait()  # mid-call until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
