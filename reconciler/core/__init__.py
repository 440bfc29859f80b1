"""The pure core: plans as data, made from the desired and remote sides with no I/O."""
