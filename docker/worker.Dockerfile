# The indexing worker: a Celery worker running the GPU extractors (faster-whisper, PaddleOCR,
# YOLO, CLIP, sentence-transformers) and GPU FAISS.
#   docker build -f docker/worker.Dockerfile -t vidrag-worker .
#
# torch 2.13.0 from PyPI is built for CUDA 13 (needs an R580+ host driver); its CUDA libraries,
# and the CUDA 12 ones of faiss-gpu-cu12 and paddlepaddle-gpu, come as pip wheels. The base
# image brings the CUDA runtime and cuDNN for libraries that look for them system-wide.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

# the PaddleOCR backend needs paddlepaddle-gpu, published on Paddle's own index (not PyPI);
# PADDLE_GPU="" leaves it out and OCR falls back to RapidOCR
ARG PADDLE_GPU="paddlepaddle-gpu==3.2.0"
ARG PADDLE_INDEX=https://www.paddlepaddle.org.cn/packages/stable/cu126/
ARG FAISS_GPU="faiss-gpu-cu12>=1.9,<2"

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    VIDRAG_DATA_DIR=/data \
    HF_HOME=/models/huggingface \
    YOLO_CONFIG_DIR=/models/ultralytics \
    PADDLE_PDX_CACHE_HOME=/models/paddlex

# libgl1 + libglib2.0-0: opencv; ffmpeg: decoding
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ffmpeg libgl1 libglib2.0-0 \
    libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin vidrag \
 && mkdir -p /data /models \
 && chown vidrag:vidrag /data /models

WORKDIR /opt/vidrag
COPY pyproject.toml README.md docker/requirements.py ./
# '===' takes PyPI's CUDA build exactly (torchvision 0.28.0 is the release built for it).
# Libraries that dlopen CUDA by soname (CTranslate2: libcublas.so.12, libcudnn*.so.9) find the
# pip-installed ones through the loader cache written last.
RUN pip install --upgrade pip \
 && pip install "torch===2.13.0" "torchvision==0.28.0" \
 && python requirements.py gpu postgres -faiss-cpu > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt "$FAISS_GPU" \
 && if [ -n "$PADDLE_GPU" ]; then \
      pip install "$PADDLE_GPU" --index-url "$PADDLE_INDEX" --extra-index-url https://pypi.org/simple; \
    fi \
 && find /opt/venv/lib/python3*/site-packages/nvidia -maxdepth 3 -type d -name lib \
      > /etc/ld.so.conf.d/zz-pip-nvidia.conf \
 && ldconfig

COPY indexer ./indexer
COPY app ./app
COPY workers ./workers
COPY docker/worker-entrypoint.sh /usr/local/bin/vidrag-worker
# --no-deps: the core requirement faiss-cpu stays out (faiss-gpu-cu12 provides `faiss`)
RUN pip install --no-deps . && rm -rf build *.egg-info \
 && chmod 0755 /usr/local/bin/vidrag-worker

USER vidrag
HEALTHCHECK --interval=30s --timeout=25s --start-period=60s --retries=3 \
  CMD ["vidrag-worker", "ping"]
ENTRYPOINT ["vidrag-worker"]
CMD ["run"]
