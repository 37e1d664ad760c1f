# `make demo`: set up what is missing, then train and evaluate the toy model
# (`make demo SEED=1`: another seed, in work_dirs/toy_vit_tiny_maskrcnn_demo_seed1).
# `make test`: set up what is missing, then run the test suite.
# Both use the virtual environment $(VENV) (default .venv).
# `make install`: next to an existing PyTorch (that of $(PYTHON), default
# python), build mmcv for it (CUDA ops when nvcc is found) and install this package.
# `make gpu-wheels`: write .gpu_wheels/, what benchmarks/gpu/cuda_check.py installs
# on a GPU machine without the OpenMMLab stack or network (64 MiB at most).
VENV ?= .venv
PYTHON ?= python
PY := $(VENV)/bin/python
TOY_DATA ?= data/toy_coco
SEED ?= 0
WORK_DIR ?= work_dirs/toy_vit_tiny_maskrcnn_demo_seed$(SEED)
PYTEST_ARGS ?=

.PHONY: setup install gpu-wheels demo test test-fast bench clean

setup:
	bash scripts/bootstrap.sh $(VENV)

install:
	bash scripts/install.sh $(PYTHON)

gpu-wheels:
	PYTHON=$(PYTHON) bash scripts/gpu_wheels.sh .gpu_wheels

demo: setup
	$(PY) tools/make_toy_coco.py $(TOY_DATA)
	PATH=$(abspath $(VENV))/bin:$$PATH mim train mmdet configs/toy_vit_tiny_maskrcnn_demo.py \
		--work-dir $(WORK_DIR) --cfg-options randomness.seed=$(SEED)
	$(PY) tools/show_results.py $(WORK_DIR)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/backbone.py

clean:
	rm -rf work_dirs build *.egg-info
