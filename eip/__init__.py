"""eip: an Energy Internet emulator that runs BEE, Energy-IP and Energy-TCP on real packet stacks."""

__version__ = "0.1.0"
