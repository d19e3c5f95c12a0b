#!/usr/bin/env bash
# Check the harness against a local open-weights model before paying for API time.
#
# Start an OpenAI-compatible server with a tool-calling chat template first, e.g.
#   vllm serve Qwen/Qwen2.5-7B-Instruct --enable-auto-tool-choice --tool-call-parser hermes --port 8000
#   llama-server -m model.gguf --jinja --port 8000            # llama.cpp
#   ollama serve  (then: ollama pull qwen2.5:7b; base URL http://127.0.0.1:11434/v1)
# then:  bench/local_model_check.sh MODEL [BASE_URL] [JUDGE] [MORE RUN ARGS...]
# MODEL is the server's model name; JUDGE defaults to the same server under the name "judge"
# (serve a second model, or pass another provider, e.g. openai/gpt-5-mini: a model never judges
# itself, and the same name at the same URL is refused). SUITE (default smoke) or SCENARIO (an
# id or glob, instead of the suite) choose the scenarios; MORE RUN ARGS go to `scheming run`
# (e.g. --factor K=V). The plumbing was checked against the fake OpenAI-compatible server of
# tests/accounting (python3 -m tests.accounting._server PORT; MODEL submit, JUDGE default).
#
# What to look at in the table it prints: errored (with reasons), limit hit by kind (ctx = the
# context window overflowed), no-tool (the model never produced a parseable tool call: wrong
# chat template or parser), and the tokens per sample. Only graded samples are in the rates.
set -euo pipefail
model="${1:?usage: $0 MODEL [BASE_URL] [JUDGE]}"
base_url="${2:-http://127.0.0.1:8000/v1}"
judge="${3:-openai-api/local/judge}"
export LOCAL_BASE_URL="$base_url" LOCAL_API_KEY="${LOCAL_API_KEY:-local}"
log_dir="logs/local-check-$(date +%Y%m%d-%H%M%S)"
select=(--suite "${SUITE:-smoke}")
if [[ -n "${SCENARIO:-}" ]]; then select=(--scenario "$SCENARIO"); fi
common=(--model "openai-api/local/$model" --grader "$judge" "${select[@]}" "${@:4}"
        --max-retries 1 --timeout 120 --max-tokens 1024 --max-connections 4
        --working-limit 900 --log-dir "$log_dir")
scheming run "${common[@]}" --dry-run
scheming run "${common[@]}" --summary-json "$log_dir/summary.json"
