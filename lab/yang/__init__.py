"""The netpilot-lab YANG module, shipped as package data."""
