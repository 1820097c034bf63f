"""One aiogram router per feature; handlers are thin and call services in `bot/`."""
