import sys

from CardiacSSLLib.cli.main import main

sys.exit(main())
