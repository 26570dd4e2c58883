"""`edgeres deploy`: every file edgeres can make for a device, measured there, and the fastest one handed over."""
