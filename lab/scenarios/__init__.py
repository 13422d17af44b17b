"""netpilot package."""
