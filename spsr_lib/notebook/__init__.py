"""notebook: what the course notebooks draw; the only place that imports ipywidgets and matplotlib.

``widgets`` (pure compositing ``wipe`` / ``blend`` / ``crop_zoom`` + ipywidgets wiring such as
``compare_slider``), ``plots`` (matplotlib figures), ``tables`` (HTML / Markdown tables). All three stay
importable as ``spsr_lib.widgets`` / ``spsr_lib.plots`` / ``spsr_lib.tables`` (``from spsr_lib import tables``).
May import: every layer below ``cli``; heavy imports only inside functions.
"""
