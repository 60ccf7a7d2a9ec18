"""Call-orchestration worker for ElevenLabs voice agents over Twilio and SIP trunks."""

__version__ = "0.1.0"
