"""The console's screens: one per mode (Overview, Devices, Decisions, Changes, Intents),
and the pushed ones (an explanation, the help, the confirmation dialog)."""
