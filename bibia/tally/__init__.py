"""Talking to Tally: the REST client and a loopback emulator of the same protocol."""
