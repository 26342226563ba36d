"""``python -m socialquality.quality CODEBOOK.yaml [...] [--expectations-dir expectations]``

(Re)generates ``<expectations-dir>/generated/<survey>.json`` for each codebook and prints its sha256.
Never touches ``<expectations-dir>/custom/``.
"""

from socialquality.quality.suites import main

raise SystemExit(main())
