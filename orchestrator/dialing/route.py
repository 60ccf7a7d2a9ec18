"""Placing one claimed call: natively through the provider, or with our own Twilio client.

`dial_mode = "native"`: the provider's outbound-call endpoint for the campaign's Twilio or
SIP-trunk number. `dial_mode = "twilio"`: the provider's register-call turns the initiation data
into TwiML, and our Twilio client places the call with answering-machine detection, its status
callbacks coming to `TWILIO_STATUS_PATH`. Either way the request is sent once, and errors keep
their meaning: `ProviderBusy` / `ProviderRefused` — nothing was placed; `ProviderAmbiguous` — the
call may exist.
"""

from __future__ import annotations

from typing import Any

from orchestrator.deps import Deps
from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.errors import ProviderRefused
from orchestrator.providers.elevenlabs import DialResult, PhoneKind
from orchestrator.store.models import Campaign

#: Where Twilio posts the status callbacks of calls placed with our own client.
TWILIO_STATUS_PATH = "/webhooks/twilio/status"


async def place_call(
    deps: Deps,
    campaign: Campaign,
    policy: CampaignPolicy,
    to_number: str,
    initiation: dict[str, Any],
) -> DialResult:
    """Place the call the campaign's `dial_mode` says; the conversation id may come later.

    Raises:
        ProviderBusy: nothing was placed; try again later.
        ProviderRefused: nothing was placed (including: Twilio mode without a Twilio account).
        ProviderAmbiguous: the call may have been placed.
    """
    if policy.dial_mode == "twilio":
        if deps.twilio is None or not policy.twilio_from_number:
            raise ProviderRefused(
                "dial_mode 'twilio' needs a Twilio account and twilio_from_number"
            )
        # Registering places no call; only `create_call` does, and it is sent once.
        twiml = await deps.provider.register_call(
            agent_id=campaign.agent_id,
            from_number=policy.twilio_from_number,
            to_number=to_number,
            initiation_data=initiation,
        )
        call = await deps.twilio.create_call(
            to=to_number,
            from_=policy.twilio_from_number,
            twiml=twiml,
            status_callback=deps.settings.public_url.rstrip("/") + TWILIO_STATUS_PATH,
        )
        return DialResult(conversation_id=None, call_sid=call.call_sid)
    kind: PhoneKind = "sip_trunk" if campaign.phone_number_kind == "sip_trunk" else "twilio"
    return await deps.provider.outbound_call(
        kind,
        agent_id=campaign.agent_id,
        phone_number_id=campaign.phone_number_id,
        to_number=to_number,
        initiation_data=initiation,
    )
