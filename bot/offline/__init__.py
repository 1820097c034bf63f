"""The offline chat (`make run` without a token) and the in-process Bot API it and the tests talk to."""
