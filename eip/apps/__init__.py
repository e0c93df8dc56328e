"""Energy Internet applications that run on the network: the BEE pool service on a VPP router."""
