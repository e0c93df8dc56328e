"""The Energy ISP: per-period OPF on nodal injections, static and dynamic limits, reversal, fees."""
