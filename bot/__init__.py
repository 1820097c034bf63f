"""delegate-bot: a Telegram assistant for the delegates and organisers of an online conference."""
