import sys

from CardiacSSLWeb.cli import main

sys.exit(main())
