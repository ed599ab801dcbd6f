#!/usr/bin/env bash
# Side by side: a tend no-op reconcile pass vs `terraform plan -refresh=false`, both over 5,000
# resources that already exist (tend: in-memory provider, all applied; terraform: 5,000
# `terraform_data` instances, applied once, then planned). terraform_data is built in, so no
# provider is downloaded; CHECKPOINT_DISABLE stops terraform's version check (no traffic
# leaves the machine). Without terraform on the PATH the terraform column is skipped.
#
#   bench/engine_vs_terraform.sh [BUILD_DIR] [N]      (defaults: ./build, 5000)
# Needs BUILD_DIR/bench/bench_engine_bench (make bench_engine_bench), or BENCH_BIN=path.
set -euo pipefail
BUILD_DIR=${1:-build}
N=${2:-5000}
RUNS=${RUNS:-3}
BENCH_BIN=${BENCH_BIN:-$BUILD_DIR/bench/bench_engine_bench}
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

if [[ ! -x $BENCH_BIN ]]; then
  echo "bench binary not found: $BENCH_BIN (build the bench_engine_bench target)" >&2
  exit 2
fi

echo "== tend: no-op pass over $N resources =="
tend_out=$("$BENCH_BIN" --sizes "$N" --passes 20 --stores memory,sqlite-file)
echo "$tend_out" | grep -v '^RESULT'
tend_ms=$(echo "$tend_out" | awk '/^RESULT/ && /store=sqlite-file/ { for (i=1;i<=NF;i++) if ($i ~ /^median_ms=/) { sub("median_ms=","",$i); print $i } }')
if [[ -z $tend_ms ]]; then
  tend_ms=$(echo "$tend_out" | awk '/^RESULT/ { for (i=1;i<=NF;i++) if ($i ~ /^median_ms=/) { sub("median_ms=","",$i); print $i; exit } }')
fi

if ! command -v terraform >/dev/null 2>&1; then
  echo
  echo "terraform is not on the PATH: terraform column skipped"
  printf '\n%-34s %12s\n' "tool" "median ms"
  printf '%-34s %12.1f\n' "tend no-op pass (sqlite store)" "$tend_ms"
  printf '%-34s %12s\n' "terraform plan -refresh=false" "absent"
  exit 0
fi

work=$(mktemp -d /tmp/tend-tf-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
# An empty CLI configuration: no provider installation settings, no credentials, no warnings.
: >"$work/terraformrc"
export TF_CLI_CONFIG_FILE="$work/terraformrc"
cat >"$work/main.tf" <<EOF
resource "terraform_data" "r" {
  count = $N
  input = "value-\${count.index}"
}
EOF
echo
echo "== terraform $(terraform version | head -1 | awk '{print $2}'): $N terraform_data =="
(cd "$work" && terraform init -input=false -no-color >/dev/null)
if [[ ${TF_APPLY:-0} == 1 ]]; then
  echo "applying $N terraform_data once (not timed)..."
  (cd "$work" && terraform apply -auto-approve -input=false -no-color -parallelism=50 >/dev/null)
else
  # Applying 5,000 terraform_data takes many minutes on a small machine, so by default the state
  # terraform would write after that apply is generated directly (same format as a real apply
  # of this config; TF_APPLY=1 applies for real). `plan -detailed-exitcode` below must then
  # report no changes, which checks that the generated state is what apply would leave.
  echo "writing the state of $N applied terraform_data (TF_APPLY=1 applies instead)..."
  python3 - "$N" >"$work/terraform.tfstate" <<'PY'
import json, sys, uuid
n = int(sys.argv[1])
inst = [{"index_key": i, "schema_version": 0,
         "attributes": {"id": str(uuid.uuid4()),
                        "input": {"value": f"value-{i}", "type": "string"},
                        "output": {"value": f"value-{i}", "type": "string"},
                        "triggers_replace": None},
         "sensitive_attributes": []} for i in range(n)]
print(json.dumps({"version": 4, "terraform_version": "1.11.4", "serial": 1,
                  "lineage": str(uuid.uuid4()), "outputs": {},
                  "resources": [{"mode": "managed", "type": "terraform_data", "name": "r",
                                 "provider": "provider[\"terraform.io/builtin/terraform\"]",
                                 "instances": inst}],
                  "check_results": None}))
PY
fi
times=()
for ((i = 0; i < RUNS; i++)); do
  t0=$(date +%s%N)
  rc=0
  (cd "$work" && terraform plan -refresh=false -input=false -no-color -detailed-exitcode >"$work/plan.out" 2>&1) || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "terraform plan exit $rc (2 = changes: not a no-op):" >&2
    tail -20 "$work/plan.out" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  times+=($(((t1 - t0) / 1000000)))
  echo "terraform plan -refresh=false run $((i + 1)): ${times[-1]} ms"
done
tf_ms=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

printf '\n%-34s %12s\n' "tool" "median ms"
printf '%-34s %12.1f\n' "tend no-op pass (sqlite store)" "$tend_ms"
printf '%-34s %12.1f\n' "terraform plan -refresh=false" "$tf_ms"
awk -v a="$tf_ms" -v b="$tend_ms" 'BEGIN { if (b > 0) printf "ratio: tend is %.0fx faster\n", a / b }'
