"""`python -m core.server [--host 127.0.0.1] [--port 8000] ...`: serve the local OpenAI-compatible API.

Test: `.venv/bin/pytest tests/jobs/test_guide_script.py -q` (it starts this entry point).
"""

import sys

from core.server.app import main

sys.exit(main())
