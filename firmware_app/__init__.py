"""ivrbox: a phone-line IVR appliance that runs Twilio TwiML locally."""

__version__ = "0.1.0"
