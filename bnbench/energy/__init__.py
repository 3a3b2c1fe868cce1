"""Energy: meters per device (NVML, RAPL, an estimate), phase windows, the sampler thread and the idle baseline.
Conversions to kWh, cups of tea, CO2 and cost are bnbench/units.py.

The meter knows nothing about models; the run driver opens its windows around the train loop's phases.
Modules stay import-light: pynvml and psutil are imported only when a meter is opened.
"""
