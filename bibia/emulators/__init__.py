"""Emulators of the services bibia talks to (Tally, the government APIs), on loopback: tools of
the tests, the demo and the benchmark. Nothing in production imports them."""
