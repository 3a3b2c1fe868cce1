"""Energy: meters per device (NVML, RAPL, an estimate), phase windows, the sampler thread, the idle baseline,
and conversions to kWh, cups of tea, CO2 and cost.

The meter knows nothing about models; the run driver opens its windows around the train loop's phases.
Modules stay import-light: pynvml and psutil are imported only when a meter is opened.
"""
