"""Outbound e-mail: messages queued in the caller's unit of work, delivered over SMTP by a
background worker with retries, so a request never waits on a mail server."""
