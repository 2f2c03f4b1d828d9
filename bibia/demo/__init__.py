"""The bundled demo form: real projects of the 2025 booklet and others, with the messiness of
real data. `python -m bibia.demo.build` regenerates `demo_form.json` from `projects.py`."""

from pathlib import Path

DEMO_FORM_PATH = Path(__file__).with_name("demo_form.json")
DEMO_FORM_ID = "bibiaD"
DEMO_API_KEY = "tly-demo-not-a-secret"
