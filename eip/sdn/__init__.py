"""The SDN controller logic (plain objects), its OpenFlow message builders and a fake switch for tests."""
