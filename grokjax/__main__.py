import sys

from grokjax.cli import main

sys.exit(main())
