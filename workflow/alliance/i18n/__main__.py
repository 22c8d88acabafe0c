"""`python -m alliance.i18n`: merge the package's messages into the catalogues (`update_catalogues`)."""

import sys

from alliance.i18n import LOCALE_DIR, update_catalogues

for code, count in update_catalogues().items():
    print(f"{LOCALE_DIR / (code + '.po')}: {count} messages to translate", file=sys.stderr)
