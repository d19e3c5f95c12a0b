LABEL = "scheming-evals"
"""Every container, network, volume and image the project creates carries `scheming-evals=1`."""
RUN_LABEL = "scheming-evals.run"
RUN_ID_ENV = "SCHEMING_RUN_ID"
IMAGE_PREFIX = "scheming-evals/"
BASE_IMAGE = "scheming-evals/base:bookworm"
HOLDER_LABEL = "scheming-evals.holder"
"""On a writable-area holder container (its value: the services whose areas it holds)."""
RENDERED_KEY = "x-scheming-rendered"
"""Top-level key of a compose file `compose_config` rendered: `scheming-docker` reads its
services as they are (no `compose config`)."""
SEED_KEY = "x-scheming-seed"
"""On the agent's service: the directories whose image content `scheming-docker` copies in at
the sample's start (the home, as the agent's user; see evals/sandbox/_docker_exec.py)."""
