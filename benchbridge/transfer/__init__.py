"""The study's transfer vocabulary: class splits into halves A and B (`halves`) and strategies that copy, freeze or
re-initialise a network's first n blocks (`blocks`)."""
