"""The webhook's cheap database probe agrees with the full read about who is a contact."""

from __future__ import annotations

from orchestrator.personalization import source
from orchestrator.store.engine import Database
from orchestrator.store.models import Campaign, Contact


async def test_the_probe_finds_exactly_the_numbers_the_full_read_answers_for(db: Database) -> None:
    async with db.session() as s:
        ours = Campaign(name="ours", agent_id="agent_a", phone_number_id="p")
        theirs = Campaign(name="theirs", agent_id="agent_b", phone_number_id="p")
        s.add(ours)
        s.add(theirs)
        await s.flush()
        assert ours.id is not None and theirs.id is not None
        s.add(Contact(campaign_id=ours.id, external_id="x1", phone_number="+14155550101"))
        s.add(Contact(campaign_id=theirs.id, external_id="x2", phone_number="+14155550102"))
    cases = [
        ("+14155550101", "agent_a", True),
        ("+14155550101", "agent_b", False),  # a contact, but of another agent's campaign
        ("+14155550102", "agent_b", True),
        ("+14155550199", "agent_a", False),  # nobody's
    ]
    probe = source.ContactProbe(db, timeout=0.1)
    try:
        for phone, agent, expected in cases:
            async with db.quick_connection() as conn:
                probed = await source.has_contact(conn, phone, agent)
            async with db.quick() as s:
                full = (agent, phone) in await source.best_contacts(s, [phone], [agent])
            assert probed is expected
            assert full is expected
            # The webhook's probe (on SQLite: its own connection, the statement compiled once).
            assert await probe.has_contact(phone, agent) is expected
    finally:
        probe.close()


async def test_the_probe_sees_contacts_added_after_it_opened(db: Database) -> None:
    probe = source.ContactProbe(db, timeout=0.1)
    try:
        assert await probe.has_contact("+14155550177", "agent_a") is False
        async with db.session() as s:
            campaign = Campaign(name="later", agent_id="agent_a", phone_number_id="p")
            s.add(campaign)
            await s.flush()
            assert campaign.id is not None
            s.add(Contact(campaign_id=campaign.id, external_id="x9", phone_number="+14155550177"))
        # No snapshot is kept between probes: the new contact is found at once.
        assert await probe.has_contact("+14155550177", "agent_a") is True
    finally:
        probe.close()
