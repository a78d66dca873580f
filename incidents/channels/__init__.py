"""Messaging channels: WhatsApp, Telegram and Bale, SMS, Facebook Messenger and email.

- `providers/`: one adapter per provider (webhook signature and format, sending, media).
- `ingest`: the webhooks store what arrives, once, and wake the worker.
- `dialogue`: the conversation that turns messages into a report, the same on every channel.
- `process`: the worker's side: fetch files, run the dialogue, answer replies to status
  messages, hand what a bot cannot do to the verification inbox.
- `inbox`: what intake agents do with the inbox.
"""
