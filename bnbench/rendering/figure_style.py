"""What every report figure shares: its resolution, how many points a line may have, the phases' colours."""

DPI = 110
MAX_POINTS = 800  # per line: about one per pixel column of an 8-inch figure at 110 dpi
PHASE_COLORS = {"setup": "#e59866", "warmup": "#f2c14e", "eval": "#7fb3d5", "checkpoint": "#c39bd3", "idle": "#d5d8dc"}
