"""The members' space: the members' edition and the restricted downloads served to people who
log in with ProConnect and whom the membership file lets in, with a journal of who read what."""
