"""The register as a static site (public and members' editions) and the feed of the current site."""
