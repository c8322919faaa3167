import sys

from lufmodel.cli import main

sys.exit(main())
