#!/bin/bash
# torchx: app single-0000 on LSF, 1 replica(s), one bsub each
set -euo pipefail
app_id=single-0000
jobdir="$PWD"
logdir="$jobdir/$app_id"
mkdir -p "$logdir"
ids=()
# a failed bsub leaves nothing behind: kill what was already submitted
trap 'rc=$?; if [ "$rc" -ne 0 ] && [ "${#ids[@]}" -gt 0 ]; then bkill "${ids[@]}" >/dev/null 2>&1 || true; echo "torchx: submission failed; killed LSF jobs ${ids[*]}" >&2; fi' EXIT
submit() {  # bsub options...; the job body on stdin. Sets $job_id
  local out
  out=$(bsub "$@")
  if [[ $out =~ Job\ \<([0-9]+)\> ]]; then job_id=${BASH_REMATCH[1]}; ids+=("$job_id"); else echo "torchx: cannot read a job id from bsub: $out" >&2; return 1; fi
}
head_host=$(bhosts -w | awk 'NR > 1 && $2 == "ok" { print $1; exit }')
[ -n "$head_host" ] || { echo "torchx: bhosts lists no host in state ok" >&2; exit 1; }
export TORCHX_RANK0_HOST="$head_host"
# trainer[0]
submit \
  -P single-0000 \
  -J single-0000-trainer-0 \
  -n 1 \
  -R 'span[hosts=1] rusage[mem=512]' \
  -m "$head_host" \
  -o "$logdir"/trainer-0.out \
  -e "$logdir"/trainer-0.err <<'TORCHX_EOF'
#!/bin/sh
exec docker run --rm \
  --name single-0000-trainer-0 \
  --shm-size=64m \
  -e TORCHX_RANK0_HOST \
  --entrypoint python \
  pytorch/pytorch:2 -c 'print('"'"'hi'"'"')'
TORCHX_EOF
head_id=$job_id
trap - EXIT
echo "$app_id"
