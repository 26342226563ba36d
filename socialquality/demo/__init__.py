"""Demo city: synthetic survey deliveries for Amsterdam's 2019 districts (docs in generator.py)."""

from socialquality.demo.generator import (
    DemoManifest,
    WAVE_FORMATS,
    generate_demo_city,
    simulate_wave,
    write_wave_file,
)

__all__ = ["DemoManifest", "WAVE_FORMATS", "generate_demo_city", "simulate_wave", "write_wave_file"]
